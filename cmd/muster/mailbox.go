package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/mail"
)

func (e *cli) mailCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "mail [N | last]",
		Short: "List the dev mailbox (MAIL_DIR), or print one message decoded, with its links",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return mailbox(args, e.getenv, e.stdout)
		},
	}
}

// mailbox lists the dev mailbox (MAIL_DIR), or prints one message decoded
// with its links: N counts from 1, oldest first; "last" is the newest.
func mailbox(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	box, err := mail.ReadMailbox(cfg.MailDir)
	if err != nil {
		return fmt.Errorf("read MAIL_DIR %s: %w", cfg.MailDir, err)
	}
	if len(args) == 0 {
		if len(box) == 0 {
			fmt.Fprintf(stdout, "no messages in %s\n", cfg.MailDir)
			return nil
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "N\tDATE\tTO\tSUBJECT")
		for i, m := range box {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", i+1, m.Date.Local().Format("2006-01-02 15:04:05"), m.To, m.Subject)
		}
		return w.Flush()
	}
	n, err := strconv.Atoi(args[0])
	if args[0] == "last" {
		n, err = len(box), nil
	}
	if err != nil || n < 1 || n > len(box) {
		return fmt.Errorf("no message %q in %s: it has %d, numbered from 1 (or last)", args[0], cfg.MailDir, len(box))
	}
	return box[n-1].Format(stdout)
}
