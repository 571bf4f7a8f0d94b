// Package pdk is the Go SDK for writing Tremor connector plugins: shared
// libraries that implement include/tremor/plugin.h (ABI 1.1).
//
// A plugin is a main package built with -buildmode=c-shared. It registers
// itself once, in an init function, and implements the connector
// interfaces of this package (the package example shows a whole sink
// plugin):
//
//	func init() { pdk.Register(echoPlugin) }
//
//	func main() {}
//
// and is built with
//
//	go build -buildmode=c-shared -o libtremor_echo.so ./plugins/echo-go
//
// The SDK supplies tremor_plugin_get_descriptor (the one symbol the host
// looks up), the descriptor and vtables in C memory, and one C trampoline
// per hook that calls into Go. Instances cross the boundary as integer
// handles, never as Go pointers: a handle the host already destroyed (or
// never had) gets TREMOR_ERR_INVALID, not a crash. Every hook runs behind a
// panic barrier: a panic becomes TREMOR_ERR_PANIC plus an error log line,
// and poisons the instance, so that every later hook but on_destroy
// returns TREMOR_ERR_PANIC.
//
// What the SDK cannot protect against, and the host must trust the plugin
// for:
//   - A panic in a goroutine the connector starts itself crashes the whole
//     host process, unless the goroutine is started with Host.Go.
//   - Fatal Go runtime errors (out of memory, concurrent map writes,
//     deadlock of all goroutines) are not panics and end the process.
//   - A panic in a package init function runs while the host dlopen()s the
//     library and ends the process. Register itself never panics: it
//     records the mistake and publishes a descriptor with no connectors
//     whose description says what is wrong, which the host refuses.
//   - Each Go c-shared library carries its own Go runtime (threads, GC,
//     signal handlers). Several in one process work in practice but are
//     not supported upstream (golang/go#18976), and a Go library can never
//     be unloaded: it is linked with -z nodelete, so dlclose does nothing.
package pdk

import (
	"reflect"
	"tremorhost/abi"

	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
)

// SDKName is what the descriptor's sdk field says.
const SDKName = "pdk-go 0.1"

// maxConnectorTypes is how many connector types one plugin may declare: one
// C on_create trampoline exists per slot (see shim.c, PDK_MAX_TYPES).
const maxConnectorTypes = 32

// Kind says whether a connector type is a source, a sink or both
// (tremor_connector_type.kinds).
type Kind uint32

const (
	Source Kind = 0x1 // TREMOR_KIND_SOURCE: the connector implements Puller
	Sink   Kind = 0x2 // TREMOR_KIND_SINK: the connector implements Sender
)

// PayloadKind says what a connector exchanges with the host
// (tremor_connector_type.payload).
type PayloadKind uint32

const (
	// Bytes: raw bytes; the host runs the flow's codec and processors.
	Bytes PayloadKind = 0
	// Structured: values (Room.Push with Event.Value, Batch.Value); no codec.
	Structured PayloadKind = 1
)

// Plugin describes a plugin: who it is and which connector types it has.
type Plugin struct {
	Name        string // non-empty, e.g. "tcp"
	Version     string // non-empty, e.g. "0.1.0"
	Description string // optional
	License     string // optional SPDX id
	Connectors  []ConnectorType
}

// ConnectorType describes one connector type and how to make instances.
type ConnectorType struct {
	Name        string // unique among all plugins the host loads
	Description string
	Kinds       Kind // Source, Sink or Source|Sink
	Payload     PayloadKind
	Fields      []Field
	// Framing is the connector's natural framing (ABI 1.1): a processor
	// name such as "lines" that the host uses on a side whose flow sets no
	// processors. "" for none (whole messages, e.g. HTTP bodies).
	Framing string
	// New makes an instance from its config (on_create): pdk.New(f). It
	// must not do blocking I/O: that belongs in Connect. Return
	// ConfigError(...) for a config the connector cannot use.
	New Constructor
}

// Constructor is a connector type's New, made by pdk.New.
type Constructor struct {
	make func(cfg Config, host Host) (Connector, error)
	// acks: the connector's type implements Acker, so a source gets
	// on_ack/on_fail. It is fixed here, before any instance exists,
	// because the descriptor's vtable says it.
	acks bool
	// iface names the interface f returns, when it returns one: a source
	// must return its own type for acks to be decided from it.
	iface string
}

// New wraps the function that makes a connector of type C. A source whose
// type C implements Acker tracks delivery: the host calls Ack or Fail
// exactly once for every event id it pulled. Any other source has no
// on_ack/on_fail in its vtable and the host does no bookkeeping for it.
// A source's f must return its own type (say *mySource), not an interface
// such as pdk.Connector: Register refuses it otherwise.
func New[C Connector](f func(cfg Config, host Host) (C, error)) Constructor {
	if f == nil {
		return Constructor{}
	}
	t := reflect.TypeFor[C]()
	c := Constructor{acks: t.Implements(reflect.TypeFor[Acker]())}
	if t.Kind() == reflect.Interface {
		c.iface = t.String()
	}
	c.make = func(cfg Config, host Host) (Connector, error) {
		conn, err := f(cfg, host)
		if err != nil || isNil(conn) {
			return nil, err
		}
		return conn, nil
	}
	return c
}

// isNil reports whether v is nil, also as a typed nil pointer.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return r.IsNil()
	}
	return false
}

// acks reports whether instances of c receive on_ack/on_fail.
func (c *ConnectorType) acks() bool { return c.Kinds&Source != 0 && c.New.acks }

var registry struct {
	sync.Mutex
	plugin *Plugin
	err    error
}

// Register declares the plugin. Call it exactly once, from an init function
// of the plugin's main package. Register never panics (a panic during
// dlopen would end the host process): a mistake is printed to stderr and
// makes the plugin publish a descriptor without connectors, whose
// description carries the message, so the host refuses it at load time.
func Register(p Plugin) {
	registry.Lock()
	defer registry.Unlock()
	if registry.plugin != nil || registry.err != nil {
		registry.err = fmt.Errorf("pdk.Register called more than once (plugins %q and %q)", registryName(), p.Name)
		warn(registry.err)
		return
	}
	p.Connectors = append([]ConnectorType(nil), p.Connectors...)
	for i := range p.Connectors {
		p.Connectors[i].Fields = append([]Field(nil), p.Connectors[i].Fields...)
	}
	if err := validatePlugin(&p); err != nil {
		registry.err = fmt.Errorf("plugin %q: %w", p.Name, err)
		warn(registry.err)
		return
	}
	registry.plugin = &p
}

// warn reports a registration mistake on stderr (there is no host log yet
// when init runs).
var warn = func(err error) { fmt.Fprintf(os.Stderr, "pdk-go: %v\n", err) }

func registryName() string {
	if registry.plugin != nil {
		return registry.plugin.Name
	}
	return ""
}

// registered returns the registered plugin, or the reason there is none.
func registered() (*Plugin, error) {
	registry.Lock()
	defer registry.Unlock()
	if registry.err != nil {
		return nil, registry.err
	}
	if registry.plugin == nil {
		return nil, fmt.Errorf("no plugin registered: call pdk.Register from an init function of the plugin's main package")
	}
	return registry.plugin, nil
}

// Check reports what Register would refuse in p (names, kinds, fields),
// without registering it: for a plugin's own tests.
func (p Plugin) Check() error { return validatePlugin(&p) }

func validatePlugin(p *Plugin) error {
	if err := checkName("plugin name", p.Name); err != nil {
		return err
	}
	if err := checkName("version", p.Version); err != nil {
		return err
	}
	for what, s := range map[string]string{"description": p.Description, "license": p.License} {
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("%s contains a NUL byte", what)
		}
	}
	if len(p.Connectors) == 0 {
		return fmt.Errorf("no connector types")
	}
	if len(p.Connectors) > maxConnectorTypes {
		return fmt.Errorf("%d connector types, at most %d are supported", len(p.Connectors), maxConnectorTypes)
	}
	seen := map[string]bool{}
	for i := range p.Connectors {
		c := &p.Connectors[i]
		if err := checkName("connector name", c.Name); err != nil {
			return fmt.Errorf("connector %d: %w", i, err)
		}
		if seen[c.Name] {
			return fmt.Errorf("connector %q declared twice", c.Name)
		}
		seen[c.Name] = true
		if strings.IndexByte(c.Description, 0) >= 0 {
			return fmt.Errorf("connector %q: description contains a NUL byte", c.Name)
		}
		if c.Kinds == 0 || c.Kinds&^(Source|Sink) != 0 {
			return fmt.Errorf("connector %q: Kinds must be pdk.Source, pdk.Sink or both", c.Name)
		}
		if c.Payload != Bytes && c.Payload != Structured {
			return fmt.Errorf("connector %q: Payload must be pdk.Bytes or pdk.Structured", c.Name)
		}
		if c.New.make == nil {
			return fmt.Errorf("connector %q: New is missing: set New: pdk.New(newMyConnector)", c.Name)
		}
		if c.Kinds&Source != 0 && c.New.iface != "" {
			return fmt.Errorf("connector %q: New's function returns the interface %s: a source's must return its own type (e.g. *mySource), which tells whether it implements pdk.Acker", c.Name, c.New.iface)
		}
		fields := map[string]bool{}
		for _, f := range c.Fields {
			if err := f.validate(); err != nil {
				return fmt.Errorf("connector %q: %w", c.Name, err)
			}
			if fields[f.Name] {
				return fmt.Errorf("connector %q: field %q declared twice", c.Name, f.Name)
			}
			fields[f.Name] = true
		}
	}
	return nil
}

func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s %q contains a NUL byte", what, s)
	}
	return nil
}

// FieldType is the type a config field's value must have (the
// TREMOR_VALUE_* kinds).
type FieldType uint32

const (
	TypeBool   = FieldType(abi.ValueBool)
	TypeInt    = FieldType(abi.ValueInt)
	TypeUint   = FieldType(abi.ValueUint)
	TypeFloat  = FieldType(abi.ValueFloat)
	TypeString = FieldType(abi.ValueString)
	TypeBytes  = FieldType(abi.ValueBytes)
	TypeArray  = FieldType(abi.ValueArray)
	TypeObject = FieldType(abi.ValueObject)
)

// Field declares one config field. Write it as a struct literal or with the
// constructors and options:
//
//	pdk.StringField("url", pdk.Required, pdk.Doc("host:port to listen on"))
//	pdk.UintField("buf_size", pdk.Default("8192"))
//
// The host checks flow configs against these declarations (types, required
// fields, defaults filled in, unknown keys refused) before on_create.
type Field struct {
	Name     string
	Type     FieldType
	Required bool   // must be present in the flow config
	Secret   bool   // never printed in logs
	Default  string // default value as JSON text; "" for none
	Doc      string // one line
}

// FieldOption sets one property of a Field.
type FieldOption func(*Field)

var (
	// Required marks a field as required.
	Required FieldOption = func(f *Field) { f.Required = true }
	// Secret marks a field as secret: the host never prints it.
	Secret FieldOption = func(f *Field) { f.Secret = true }
)

// Default sets a field's default, as JSON text (`8192`, `"text"`, `true`).
func Default(json string) FieldOption { return func(f *Field) { f.Default = json } }

// Doc sets a field's one-line description.
func Doc(text string) FieldOption { return func(f *Field) { f.Doc = text } }

// NewField makes a field of the given type.
func NewField(name string, t FieldType, opts ...FieldOption) Field {
	f := Field{Name: name, Type: t}
	for _, o := range opts {
		o(&f)
	}
	return f
}

// StringField, IntField, UintField, FloatField and BoolField make a field of
// that type.
func StringField(name string, opts ...FieldOption) Field { return NewField(name, TypeString, opts...) }
func IntField(name string, opts ...FieldOption) Field    { return NewField(name, TypeInt, opts...) }
func UintField(name string, opts ...FieldOption) Field   { return NewField(name, TypeUint, opts...) }
func FloatField(name string, opts ...FieldOption) Field  { return NewField(name, TypeFloat, opts...) }
func BoolField(name string, opts ...FieldOption) Field   { return NewField(name, TypeBool, opts...) }

func (f Field) validate() error {
	if err := checkName("field name", f.Name); err != nil {
		return err
	}
	if f.Type < TypeBool || f.Type > TypeObject {
		return fmt.Errorf("field %q: unknown type %d", f.Name, f.Type)
	}
	if strings.IndexByte(f.Doc, 0) >= 0 || strings.IndexByte(f.Default, 0) >= 0 {
		return fmt.Errorf("field %q: doc or default contains a NUL byte", f.Name)
	}
	if f.Default != "" && !json.Valid([]byte(f.Default)) {
		return fmt.Errorf("field %q: default %q is not valid JSON", f.Name, f.Default)
	}
	if f.Default != "" && f.Required {
		return fmt.Errorf("field %q: a required field cannot have a default", f.Name)
	}
	return nil
}
