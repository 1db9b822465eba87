package jobs

// SendTasksPerBatch lets the external tests count a batch's send tasks.
const SendTasksPerBatch = sendTasksPerBatch
