package redistest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is how many hash slots a Redis Cluster has.
const clusterSlots = 16384

// Cluster starts a Redis Cluster of its own for t, of masters masters
// (no replicas) on free loopback ports, with the slots split evenly, and
// returns a client of it. The servers stop when t ends.
func Cluster(t testing.TB, masters int) *redis.ClusterClient {
	t.Helper()
	ctx := context.Background()
	var addrs []string
	for i := range masters {
		var s *server
		var err error
		for range 5 { // a free port can be taken before the server binds it
			if s, err = launch("--cluster-enabled", "yes", "--cluster-node-timeout", "2000"); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("redistest: cluster node %d: %v", i, err)
		}
		t.Cleanup(s.stop)
		addrs = append(addrs, s.addr)
	}
	per := clusterSlots / masters
	for i, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		lo, hi := i*per, (i+1)*per-1
		if i == masters-1 {
			hi = clusterSlots - 1
		}
		err := c.ClusterAddSlotsRange(ctx, lo, hi).Err()
		if err == nil && i > 0 {
			host, port, _ := net.SplitHostPort(addrs[0])
			err = c.ClusterMeet(ctx, host, port).Err()
		}
		c.Close()
		if err != nil {
			t.Fatalf("redistest: cluster node %s: %v", addr, err)
		}
	}
	deadline := time.Now().Add(startTimeout)
	for _, addr := range addrs {
		for !clusterReady(ctx, addr, masters) {
			if time.Now().After(deadline) {
				t.Fatalf("redistest: the cluster on %v was not ready within %s", addrs, startTimeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	return c
}

// clusterReady reports whether the node at addr sees every slot served
// and every master known.
func clusterReady(ctx context.Context, addr string, masters int) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	info, err := c.ClusterInfo(ctx).Result()
	return err == nil && strings.Contains(info, "cluster_state:ok") &&
		strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)+"\r") &&
		strings.Contains(info, fmt.Sprintf("cluster_slots_ok:%d", clusterSlots))
}
