package pdk

/*
#cgo CFLAGS: -I${SRCDIR}/../include -fvisibility=hidden
#include <stdlib.h>
#include "tremor/plugin.h"

// Defined in shim.c.
tremor_connector_vtable *pdk_new_vtable(uint32_t idx, uint32_t kinds, int acks);
*/
import "C"

import (
	"sync"
	"unsafe"
)

// The descriptor lives in C memory, built once and never freed: the header
// requires it (and everything it points to) to stay valid and unchanged for
// as long as the library is loaded, and a Go library is never unloaded.
var desc struct {
	once sync.Once
	p    *C.tremor_plugin_descriptor
}

// descriptor returns the plugin's descriptor, building it on first use.
func descriptor() *C.tremor_plugin_descriptor {
	desc.once.Do(func() { desc.p = buildDescriptor() })
	return desc.p
}

func cstr(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

func calloc[T any](n int) *T {
	var zero T
	return (*T)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(zero))))
}

func buildDescriptor() *C.tremor_plugin_descriptor {
	d := calloc[C.tremor_plugin_descriptor](1)
	d.struct_size = C.uint32_t(C.sizeof_tremor_plugin_descriptor)
	d.abi_major = C.TREMOR_ABI_MAJOR
	d.abi_minor = C.TREMOR_ABI_MINOR
	d.sdk = C.CString(SDKName)
	p, err := registered()
	if err != nil {
		// A descriptor the host refuses (no connectors), saying why.
		d.name = C.CString("pdk-go-unregistered")
		d.version = C.CString("0")
		d.description = C.CString("pdk-go: " + err.Error())
		return d
	}
	d.name = C.CString(p.Name)
	d.version = C.CString(p.Version)
	d.description = cstr(p.Description)
	d.license = cstr(p.License)
	arr := calloc[*C.tremor_connector_type](len(p.Connectors))
	list := unsafe.Slice(arr, len(p.Connectors))
	for i := range p.Connectors {
		list[i] = buildConnectorType(i, &p.Connectors[i])
	}
	d.connectors_len = C.uint64_t(len(p.Connectors))
	d.connectors = arr
	return d
}

func buildConnectorType(idx int, c *ConnectorType) *C.tremor_connector_type {
	t := calloc[C.tremor_connector_type](1)
	t.struct_size = C.uint32_t(C.sizeof_tremor_connector_type)
	t.kinds = C.uint32_t(c.Kinds)
	t.name = C.CString(c.Name)
	t.description = cstr(c.Description)
	t.payload = C.uint32_t(c.Payload)
	t.framing = cstr(c.Framing)
	if n := len(c.Fields); n > 0 {
		arr := calloc[C.tremor_config_field](n)
		fields := unsafe.Slice(arr, n)
		for i, f := range c.Fields {
			cf := &fields[i]
			cf.name = C.CString(f.Name)
			cf._type = C.uint32_t(f.Type)
			if f.Required {
				cf.flags |= C.TREMOR_FIELD_REQUIRED
			}
			if f.Secret {
				cf.flags |= C.TREMOR_FIELD_SECRET
			}
			cf.default_json = cstr(f.Default)
			cf.doc = cstr(f.Doc)
		}
		t.fields_len = C.uint32_t(n)
		t.fields = arr
	}
	acks := C.int(0)
	if c.acks() {
		acks = 1
	}
	t.vtable = C.pdk_new_vtable(C.uint32_t(idx), C.uint32_t(c.Kinds), acks)
	return t
}

// descriptorPtr returns the descriptor as an unsafe.Pointer (for tests that
// drive the hooks through pdktest).
func descriptorPtr() unsafe.Pointer { return unsafe.Pointer(descriptor()) }
