package jobs

import (
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"
)

// NewRedis connects to the Redis named by a URL: redis:// or rediss:// for
// one server, redis-sentinel://…?master_name=… for Sentinel, and
// redis-cluster://host:port?addr=host2:port2 for a Cluster. Query
// parameters are go-redis options (dial_timeout, pool_size, …).
func NewRedis(raw string) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	switch u.Scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		return redis.NewClient(o), nil
	case "redis-sentinel":
		u.Scheme = "redis"
		o, err := redis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		return redis.NewFailoverClient(o), nil
	case "redis-cluster":
		u.Scheme = "redis"
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		return redis.NewClusterClient(o), nil
	default:
		return nil, fmt.Errorf("REDIS_URL: scheme %q is not redis, rediss, redis-sentinel or redis-cluster", u.Scheme)
	}
}
