package abi

import "unsafe"

// Struct sizes, so that code laying these structs out in memory needs no
// "unsafe" of its own.
const (
	SizeofErrorBuf         = unsafe.Sizeof(ErrorBuf{})
	SizeofValue            = unsafe.Sizeof(Value{})
	SizeofEvent            = unsafe.Sizeof(Event{})
	SizeofBatch            = unsafe.Sizeof(Batch{})
	SizeofHostAPI          = unsafe.Sizeof(HostAPI{})
	SizeofMetricLabel      = unsafe.Sizeof(MetricLabel{})
	SizeofCreateArgs       = unsafe.Sizeof(CreateArgs{})
	SizeofConnectorVTable  = unsafe.Sizeof(ConnectorVTable{})
	SizeofConfigField      = unsafe.Sizeof(ConfigField{})
	SizeofConnectorType    = unsafe.Sizeof(ConnectorType{})
	SizeofPluginDescriptor = unsafe.Sizeof(PluginDescriptor{})
	SizeofPointer          = unsafe.Sizeof(uintptr(0))
)
