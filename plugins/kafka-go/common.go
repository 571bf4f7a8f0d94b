package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"tremorhost/pdk-go"
)

type (
	kmsgReq  = kmsg.OffsetCommitRequest
	kmsgResp = kmsg.OffsetCommitResponse
)

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
