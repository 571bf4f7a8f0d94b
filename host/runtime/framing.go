package runtime

import (
	"fmt"

	"tremorhost/host/flow"
)

// Framer is a connector type that declares its natural framing (ABI 1.1):
// the processor used on a side of a connector whose flow does not set that
// side's processors. Stream connectors (tcp, stdio) declare "lines".
type Framer interface{ Framing() string }

// framing returns the processors of c, each side defaulting to the type's
// natural framing when the flow does not set it, and which sides were
// defaulted.
func framing(typ Type, c flow.Connector) (pre, post []flow.Processor, defPre, defPost bool) {
	pre, post = c.Preprocessors, c.Postprocessors
	fr, ok := typ.(Framer)
	if !ok || fr.Framing() == "" {
		return pre, post, false, false
	}
	natural := []flow.Processor{{Name: fr.Framing(), Config: map[string]any{}}}
	if pre == nil {
		pre, defPre = natural, true
	}
	if post == nil {
		post, defPost = natural, true
	}
	return pre, post, defPre, defPost
}

// settleFraming drops the defaulted processors of a side the connector is
// not used on (only an explicit one there is an error), and warns about a
// stream connector whose flow left a side it is used on without framing:
// every processor frames, so none means each read or write is one event,
// however the data is split in transit.
func (r *Runtime) settleFraming(n *node) {
	if n.source == nil && n.defPre {
		n.pre = nil
	}
	if n.sink == nil && n.defPost {
		n.post, n.newlineOnly = nil, false
	}
	fr, ok := n.typ.(Framer)
	if !ok || fr.Framing() == "" {
		return
	}
	warn := func(key string) {
		r.log.Warn().Str("file", r.flow.File).Str("connector", n.conn.ID).
			Msg(fmt.Sprintf("connector %q (type %s) is a stream connector but its %s is empty: codec %q sees whatever each read or write holds, not whole messages; remove `%s = []` to get its natural framing (%q), or name a framing processor", n.conn.ID, n.typ.Name(), key, n.codec.Name(), key, fr.Framing()))
	}
	if n.source != nil && len(n.pre) == 0 {
		warn("preprocessors")
	}
	if n.sink != nil && len(n.post) == 0 {
		warn("postprocessors")
	}
}
