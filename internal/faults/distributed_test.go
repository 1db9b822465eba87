package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// info reads one field of INFO from the server at addr.
func info(addr, section, field string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	out, err := c.Info(context.Background(), section).Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// startSentinel runs redis-server as a sentinel watching master "m".
func startSentinel(t *testing.T, dir string, port, masterPort int) *redisServer {
	t.Helper()
	sdir := filepath.Join(dir, "sentinel-"+strconv.Itoa(port))
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(sdir, "sentinel.conf")
	body := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor m 127.0.0.1 %d 2
sentinel down-after-milliseconds m 1000
sentinel failover-timeout m 5000
sentinel parallel-syncs m 1
`, port, sdir, masterPort)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &redisServer{port: port, log: filepath.Join(sdir, "log"), args: []string{conf, "--sentinel"}}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.kill)
	return r
}

// TestSentinelFailover runs the core load (an import with its emails, and
// single invitations) against a master, a replica and three sentinels, and
// kills the master half way: the sentinels promote the replica, and the
// processes follow it.
func TestSentinelFailover(t *testing.T) {
	scenario(t, "Redis Sentinel: the master killed during an import and sends", false, func(t *testing.T, _ *rand.Rand) tally {
		dir := t.TempDir()
		master := startRedis(t, dir, redisPort)
		replica := startRedis(t, dir, redisPort+1, "--replicaof", "127.0.0.1", strconv.Itoa(redisPort))
		for i := range 3 {
			startSentinel(t, dir, sentinelPort+i, redisPort)
		}
		until(t, func() bool { return info(replica.addr(), "replication", "master_link_status") == "up" })
		for i := range 3 {
			until(t, func() bool {
				m := info("127.0.0.1:"+strconv.Itoa(sentinelPort+i), "sentinel", "master0")
				return strings.Contains(m, "slaves=1") && strings.Contains(m, "sentinels=3")
			})
		}
		e := newEnv(t, fmt.Sprintf("redis-sentinel://127.0.0.1:%d?master_name=m&addr=127.0.0.1:%d&addr=127.0.0.1:%d",
			sentinelPort, sentinelPort+1, sentinelPort+2))
		e.start("web")
		e.start("scheduler")
		e.start("worker")
		_, acc := e.client("Sentinel", "owner@sentinel.example")
		rows := size(1000, 10)
		e.upload(acc, "imp", rows)
		n := e.invite(acc, "single", size(100, 3))
		e.waitSent((rows + n) / 4)
		master.kill()
		until(t, func() bool { return info(replica.addr(), "replication", "role") == "master" })
		return e.settle(time.Now(), rows+n, rows+n, membersOf(acc))
	})
}

// TestCluster runs the core load against a three-master Redis Cluster,
// with a worker killed while the emails go out.
func TestCluster(t *testing.T) {
	scenario(t, "Redis Cluster of three masters: the worker killed during sends", false, func(t *testing.T, _ *rand.Rand) tally {
		dir := t.TempDir()
		var addrs []string
		for i := range 3 {
			r := startRedis(t, dir, clusterPort+i, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
			addrs = append(addrs, r.addr())
		}
		create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
		create.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if out, err := create.CombinedOutput(); err != nil {
			t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
		}
		for _, a := range addrs {
			until(t, func() bool { return clusterOK(a) })
		}
		e := newEnv(t, fmt.Sprintf("redis-cluster://%s?addr=%s&addr=%s", addrs[0], addrs[1], addrs[2]))
		e.start("web")
		e.start("scheduler")
		w := e.start("worker")
		_, acc := e.client("Cluster", "owner@cluster.example")
		rows := size(1000, 10)
		e.upload(acc, "imp", rows)
		n := e.invite(acc, "single", size(100, 3))
		e.waitSent((rows + n) / 3)
		w.kill()
		e.start("worker")
		return e.settle(time.Now(), rows+n, rows+n, membersOf(acc))
	})
}

func clusterOK(addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	out, err := c.ClusterInfo(context.Background()).Result()
	return err == nil && strings.Contains(out, "cluster_state:ok")
}
