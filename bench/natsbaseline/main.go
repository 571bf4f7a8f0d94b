// Command natsbaseline is what bench/nats.sh compares the NATS plugin with:
// a NATS server with JetStream, and plain nats.go clients doing what
// nats_sink and nats_source do.
//
//	natsbaseline server DIR          serve on a free loopback port, JetStream stored in DIR; print the URL, run until killed
//	natsbaseline publish URL SUBJECT N SIZE
//	                                 N messages of SIZE bytes, async publishes, every publish ack awaited; prints records/s
//	natsbaseline consume URL STREAM DURABLE SUBJECT N
//	                                 pull from a durable consumer (as nats_source makes it, max_ack_pending 8192) in fetches of 1024,
//	                                 acking each message; prints records/s from the first message to the N-th
//
// publish also creates the stream BENCH (subjects bench.>) when missing.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "natsbaseline:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: natsbaseline server DIR | publish URL SUBJECT N SIZE | consume URL STREAM DURABLE SUBJECT N")
	}
	switch {
	case args[0] == "server" && len(args) == 2:
		return serve(args[1])
	case args[0] == "publish" && len(args) == 5:
		n, size, err := counts(args[3], args[4])
		if err != nil {
			return err
		}
		return publish(args[1], args[2], n, size)
	case args[0] == "consume" && len(args) == 6:
		n, _, err := counts(args[5], "0")
		if err != nil {
			return err
		}
		return consume(args[1], args[2], args[3], args[4], n)
	}
	return fmt.Errorf("unknown command or wrong arguments: %q", args)
}

func counts(n, size string) (int, int, error) {
	a, err := strconv.Atoi(n)
	if err != nil || a <= 0 {
		return 0, 0, fmt.Errorf("N %q: want a positive integer", n)
	}
	b, err := strconv.Atoi(size)
	if err != nil || b < 0 {
		return 0, 0, fmt.Errorf("SIZE %q: want a non-negative integer", size)
	}
	return a, b, nil
}

func serve(dir string) error {
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return err
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		return errors.New("the NATS server did not start within 30 s")
	}
	fmt.Println(s.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	s.Shutdown()
	return nil
}

func connect(url string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func publish(url, subject string, n, size int) error {
	nc, js, err := connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}}); err != nil {
		return fmt.Errorf("stream BENCH: %w", err)
	}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, 1024)
	for sent := 0; sent < n; {
		futures = futures[:0]
		for ; sent < n && len(futures) < cap(futures); sent++ {
			f, err := js.PublishAsync(subject, payload)
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("publish ack: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	fmt.Println(int(float64(n) / time.Since(start).Seconds()))
	return nil
}

func consume(url, stream, durable, subject string, n int) error {
	nc, js, err := connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
		FilterSubject: subject, DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: 8192,
	})
	if err != nil {
		return fmt.Errorf("durable consumer %q of stream %q: %w", durable, stream, err)
	}
	var start time.Time
	got := 0
	for got < n {
		batch, err := cons.Fetch(1024, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		for m := range batch.Messages() {
			if got == 0 {
				start = time.Now()
			}
			if err := m.Ack(); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
			got++
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d messages in 10 minutes", got, n)
		}
	}
	fmt.Println(int(float64(got-1) / time.Since(start).Seconds()))
	return nil
}
