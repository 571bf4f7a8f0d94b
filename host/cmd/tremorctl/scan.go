package main

import (
	"errors"

	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
)

// registry inspects plugin files the safe way when it can: in child
// processes (tremor-runner --describe, like GStreamer's plugin scanner), so
// that a plugin that crashes or hangs while being read is reported as that
// file's error instead of taking tremorctl down, and no plugin code runs in
// tremorctl until a flow needs it in-process. Without a tremor-runner (next
// to tremorctl, or $TREMOR_RUNNER) the files are loaded into this process;
// the checks and messages are the same either way.
func (c *cli) registry(files []string) (*plugin.Registry, error) {
	runner, err := isolate.FindRunner()
	if errors.Is(err, isolate.ErrRunnerRefused) {
		// A runner named or found that cannot be used is an error, never a
		// reason to load the files here: each is refused with it.
		reg, _ := plugin.LoadAllWith(files, func(path string) (*plugin.Plugin, error) {
			return nil, &plugin.LoadError{Path: path, Err: err}
		})
		return reg, err
	}
	if err != nil {
		c.log.Debug().Err(err).Msg("inspecting plugins by loading them into this process")
		return plugin.LoadAll(files)
	}
	s := &isolate.Scanner{Runner: runner}
	return s.Registry(files)
}

// inspectFile is registry for one file.
func (c *cli) inspectFile(path string) (*plugin.Plugin, error) {
	runner, err := isolate.FindRunner()
	if errors.Is(err, isolate.ErrRunnerRefused) {
		return nil, err
	}
	if err != nil {
		c.log.Debug().Err(err).Msg("inspecting the plugin by loading it into this process")
		return plugin.Load(path)
	}
	s := &isolate.Scanner{Runner: runner}
	return s.Inspect(path)
}
