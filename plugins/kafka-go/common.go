package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"tremorhost/pdk-go"
)

type (
	kmsgReq  = kmsg.OffsetCommitRequest
	kmsgResp = kmsg.OffsetCommitResponse
)

// dial makes a client and checks that a broker answers (the source's and
// the sink's Connect).
func dial(opts []kgo.Opt, brokers string) (*kgo.Client, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, pdk.ConfigError("kafka client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("no Kafka broker of brokers = %q answers (is it running, and reachable from here? retrying): %w", brokers, err)
	}
	return cl, nil
}

// brokerList reads "brokers": comma-separated host:port.
func brokerList(cfg pdk.Config) ([]string, error) {
	return stringList(cfg, "brokers")
}

// stringList reads a required comma-separated list.
func stringList(cfg pdk.Config, key string) ([]string, error) {
	s, err := cfg.RequireString(key)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, pdk.ConfigError("%s %q names nothing: give a comma-separated list", key, s)
	}
	return out, nil
}

// commitErr is the first error of a commit: the request's or a partition's.
func commitErr(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	if resp == nil {
		return nil
	}
	var errs []error
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e))
			}
		}
	}
	return errors.Join(errs...)
}
