package runtime

// SHA256 is the hex digest of the plugin file as loaded, for plugin_sha256.
func (t pluginType) SHA256() string { return t.c.Plugin.SHA256 }

// Redacted hides the values of fields the plugin declares secret.
func (t pluginType) Redacted(cfg map[string]any) map[string]any { return t.c.Redacted(cfg) }

// loggableConfig is cfg as it may be logged: secret fields redacted when
// the type knows which they are.
func loggableConfig(t Type, cfg map[string]any) map[string]any {
	if r, ok := t.(interface {
		Redacted(map[string]any) map[string]any
	}); ok {
		return r.Redacted(cfg)
	}
	return cfg
}
