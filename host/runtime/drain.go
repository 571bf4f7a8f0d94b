package runtime

import "tremorhost/host/edge"

// roleDone is called by each role of n (source, sink) once it has made its
// last pull or send, with the instance as that role calls it. The last
// role to finish drains the instance, so that on_drain comes once per
// instance and after both the last on_pull and the last on_send (the
// header's on_drain rule), also after a contract break (rule 8).
func (n *node) roleDone(inst Instance) {
	roles := int32(0)
	if n.source != nil {
		roles++
	}
	if n.sink != nil {
		roles++
	}
	if n.rolesDone.Add(1) != roles {
		return
	}
	if err := inst.Drain(); err != nil {
		n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("drain failed")
	}
}
