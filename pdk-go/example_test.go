package pdk_test

import (
	"fmt"
	"os"

	"tremorhost/pdk-go"
)

// echo is a sink that writes each event's payload, after a prefix, as a
// line on stdout.
type echo struct {
	prefix string
}

func (e *echo) Connect(attempt int) error { return nil }
func (e *echo) Close() error              { return nil }

// Send marks each event delivered once it is written.
func (e *echo) Send(batch *pdk.Batch, outcomes []pdk.Outcome) error {
	for i := range batch.Len() {
		if _, err := fmt.Fprintf(os.Stdout, "%s%s\n", e.prefix, batch.Payload(i)); err != nil {
			return err // the events not marked OK fail back to their source
		}
		outcomes[i] = pdk.OutcomeOK
	}
	return nil
}

// The whole plugin: a main package registers it once, in init, and is
// built with -buildmode=c-shared:
//
//	func init() { pdk.Register(echoPlugin) }
//
//	func main() {}
//
// Check finds what Register would refuse, in a plugin's own tests.
func Example() {
	echoPlugin := pdk.Plugin{
		Name:    "echo",
		Version: "0.1.0",
		Connectors: []pdk.ConnectorType{{
			Name:    "echo_sink",
			Kinds:   pdk.Sink,
			Payload: pdk.Bytes,
			Fields:  []pdk.Field{pdk.StringField("prefix", pdk.Default(`""`), pdk.Doc("text put before each line"))},
			New: pdk.New(func(cfg pdk.Config, host pdk.Host) (*echo, error) {
				return &echo{prefix: cfg.StringOr("prefix", "")}, nil
			}),
		}},
	}
	fmt.Println(echoPlugin.Check())

	broken := echoPlugin
	broken.Connectors = []pdk.ConnectorType{{Name: "echo_sink", Kinds: pdk.Sink, Payload: pdk.Bytes}}
	fmt.Println(broken.Check())
	// Output:
	// <nil>
	// connector "echo_sink": New is missing: set New: pdk.New(newMyConnector)
}

// Fields are struct literals or built with a constructor and options.
func ExampleField() {
	for _, f := range []pdk.Field{
		pdk.StringField("url", pdk.Required, pdk.Doc("host:port to listen on")),
		pdk.UintField("buf_size", pdk.Default("8192")),
		{Name: "token", Type: pdk.TypeString, Secret: true},
	} {
		fmt.Printf("%s required=%t secret=%t default=%q\n", f.Name, f.Required, f.Secret, f.Default)
	}
	// Output:
	// url required=true secret=false default=""
	// buf_size required=false secret=false default="8192"
	// token required=false secret=true default=""
}
