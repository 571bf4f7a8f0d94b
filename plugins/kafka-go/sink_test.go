package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"tremorhost/pdk-go"
)

// Only errors the broker calls permanent fail an event; a broker that is
// down or slow makes it RETRY.
func TestProduceOutcome(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, c := range []struct {
		err  error
		want pdk.Outcome
	}{
		{nil, pdk.OutcomeOK},
		{kerr.NotLeaderForPartition, pdk.OutcomeRetry},
		{kerr.UnknownTopicOrPartition, pdk.OutcomeRetry},
		{fmt.Errorf("unable to dial: %w", dial), pdk.OutcomeRetry},
		{kgo.ErrRecordTimeout, pdk.OutcomeRetry},
		{context.DeadlineExceeded, pdk.OutcomeRetry},
		{kerr.MessageTooLarge, pdk.OutcomeFailed},
		{kerr.TopicAuthorizationFailed, pdk.OutcomeFailed},
		{fmt.Errorf("wrapped: %w", kerr.InvalidTopicException), pdk.OutcomeFailed},
	} {
		assert.Equal(t, c.want, outcome(c.err), "%v", c.err)
	}
}
