package fleet

import (
	"bytes"
	"encoding/hex"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unique"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/ampora-io/ampora/internal/collectorconfig"
)

// Bounds on what one agent's reports may make the registry keep, whatever the agent sends.
const (
	// MaxAttributes bounds the attributes kept per agent: identifying ones first, then
	// non-identifying ones, in the order reported; the rest are dropped.
	MaxAttributes = 128
	// MaxAttributeKeyLen drops attributes whose key is longer, in characters: no selector can
	// name them (AttributeRequirement keys are at most 256 characters).
	MaxAttributeKeyLen = 256
	// MaxAttributeValueLen cuts longer attribute values, in characters, to what the status
	// fields they are copied to accept (serviceName, serviceVersion, hostName, version: 256),
	// which is also the longest value a selector expression can name.
	MaxAttributeValueLen = 256
	// MaxErrorMessageBytes bounds the error messages and health errors kept per agent; status
	// messages take at most 1024 characters.
	MaxErrorMessageBytes = 1024
	// MaxFailures bounds the FAILED reports kept per agent, one per config hash; the oldest
	// goes first.
	MaxFailures = 16
	// MaxHashBytes bounds a reported config or components hash. Config hashes are 32 bytes,
	// so a longer reported hash cut to this still matches none of them.
	MaxHashBytes = 64
	// MaxComponents bounds the component kinds and types kept per agent, taken in name
	// order; MaxComponentNameLen drops longer names (collector component types are far
	// shorter).
	MaxComponents       = 1024
	MaxComponentNameLen = 256
)

// Report is what one AgentToServer message says, decoded once, bounded and interned: the one
// place a message's fields are read. The message itself stays with the decoder. A nil part
// was left out of the message, which the spec's compression means "unchanged since the last
// report".
type Report struct {
	// UID is the instance UID as a canonical UUID; "" when the message's is not 16 bytes.
	UID          string
	SequenceNum  uint64
	Capabilities uint64 // 0: unchanged
	// Attributes are the identifying and then the non-identifying attributes, as strings;
	// nil without an AgentDescription.
	Attributes map[string]string
	Health     *HealthReport
	// EffectiveHash is the hash of the effective config's body; nil without one.
	EffectiveHash *string
	Remote        *RemoteStatus
	Components    *ComponentsReport
	// Disconnect is the agent's goodbye (AgentDisconnect).
	Disconnect bool
}

// HealthReport is the part of ComponentHealth that is read: the top-level flag and last_error.
type HealthReport struct {
	Healthy bool
	Error   string
}

// RemoteStatus is a RemoteConfigStatus: the hash it is about (hex), the status and its error.
type RemoteStatus struct {
	Hash   string
	Status protobufs.RemoteConfigStatuses
	Error  string
}

// ComponentsReport is an AvailableComponents: its hash, and the component types per kind when
// the message lists them (nil when it carries the hash alone).
type ComponentsReport struct {
	Hash  []byte
	Types map[string]map[string]struct{}
}

// Decode turns a message into a Report.
func Decode(msg *protobufs.AgentToServer) Report {
	r := Report{SequenceNum: msg.SequenceNum, Capabilities: msg.Capabilities,
		Disconnect: msg.AgentDisconnect != nil}
	if len(msg.InstanceUid) == 16 {
		r.UID = UIDString(msg.InstanceUid)
	}
	if d := msg.AgentDescription; d != nil {
		r.Attributes = make(map[string]string, min(len(d.IdentifyingAttributes)+len(d.NonIdentifyingAttributes), MaxAttributes))
		for _, kv := range d.IdentifyingAttributes {
			addAttribute(r.Attributes, kv)
		}
		for _, kv := range d.NonIdentifyingAttributes {
			addAttribute(r.Attributes, kv)
		}
	}
	if h := msg.Health; h != nil {
		r.Health = &HealthReport{Healthy: h.Healthy, Error: internShort(truncate(h.LastError, MaxErrorMessageBytes))}
	}
	if ec := msg.EffectiveConfig; ec != nil {
		h := intern(collectorconfig.Hash(EffectiveBody(ec.ConfigMap)))
		r.EffectiveHash = &h
	}
	if rcs := msg.RemoteConfigStatus; rcs != nil {
		r.Remote = &RemoteStatus{
			Hash:   intern(HashString(boundHash(rcs.LastRemoteConfigHash))),
			Status: rcs.Status,
			Error:  internShort(truncate(rcs.ErrorMessage, MaxErrorMessageBytes)),
		}
	}
	if ac := msg.AvailableComponents; ac != nil {
		r.Components = &ComponentsReport{Hash: bytes.Clone(boundHash(ac.Hash))}
		if len(ac.Components) > 0 {
			r.Components.Types = componentTypes(ac.Components)
		}
	}
	return r
}

// Applied is what applying a report to its agent asks of the caller.
type Applied struct {
	// AppliedOffer: the report is the APPLIED of the config the agent was offered, after
	// ApplyDuration.
	AppliedOffer  bool
	ApplyDuration time.Duration
	// AskComponents: the agent reported a components hash the registry has no list for.
	AskComponents bool
}

// Apply copies a report into the agent's record; parts the report leaves out keep their value.
func (a *Agent) Apply(r Report, now time.Time) Applied {
	var out Applied
	if r.Attributes != nil {
		a.Attributes = r.Attributes
	}
	if r.Capabilities != 0 {
		a.Capabilities = r.Capabilities
	}
	if h := r.Health; h != nil {
		a.HealthReported, a.Healthy, a.HealthError = true, h.Healthy, h.Error
	}
	if r.EffectiveHash != nil {
		a.EffectiveHash = *r.EffectiveHash
	}
	if rs := r.Remote; rs != nil {
		if rs.Hash != a.StatusHash || rs.Status != a.Status || a.StatusSince.IsZero() {
			a.StatusSince = now
			switch rs.Status {
			case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED:
				a.AppliedAt = now
				if a.OfferedHash == rs.Hash && !a.OfferedAt.IsZero() {
					out.AppliedOffer, out.ApplyDuration = true, now.Sub(a.OfferedAt)
				}
			case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED:
				a.recordFailure(rs.Hash, Failure{Message: rs.Error, At: now})
			}
		}
		a.StatusHash, a.Status, a.StatusError = rs.Hash, rs.Status, rs.Error
	}
	if c := r.Components; c != nil {
		if c.Types != nil {
			a.Components, a.ComponentsHash = c.Types, c.Hash
		} else if !bytes.Equal(c.Hash, a.ComponentsHash) || a.Components == nil {
			out.AskComponents = true
		}
	}
	return out
}

// MarkDisconnected ends the agent's session at now, keeping the last MaxRecentDisconnects
// disconnects for flapping.
func (a *Agent) MarkDisconnected(now time.Time) {
	if !a.Connected {
		return
	}
	a.Connected, a.Conn, a.DisconnectedAt = false, nil, now
	a.Disconnects = append(a.Disconnects, now)
	if len(a.Disconnects) > MaxRecentDisconnects {
		a.Disconnects = a.Disconnects[len(a.Disconnects)-MaxRecentDisconnects:]
	}
}

// recordFailure keeps f as the FAILED report for hash, dropping the oldest other report when
// the agent has MaxFailures already.
func (a *Agent) recordFailure(hash string, f Failure) {
	if a.Failures == nil {
		a.Failures = map[string]Failure{}
	}
	if _, ok := a.Failures[hash]; !ok && len(a.Failures) >= MaxFailures {
		oldest := ""
		for h, g := range a.Failures {
			if oldest == "" || g.At.Before(a.Failures[oldest].At) {
				oldest = h
			}
		}
		delete(a.Failures, oldest)
	}
	a.Failures[hash] = f
}

// MessageKind names the most significant part a message carries, for metrics.
func MessageKind(msg *protobufs.AgentToServer) string {
	switch {
	case msg.AgentDisconnect != nil:
		return "disconnect"
	case msg.RemoteConfigStatus != nil:
		return "remote_config_status"
	case msg.AgentDescription != nil:
		return "description"
	case msg.Health != nil:
		return "health"
	case msg.EffectiveConfig != nil:
		return "effective_config"
	case msg.AvailableComponents != nil:
		return "available_components"
	default:
		return "heartbeat"
	}
}

// addAttribute adds one reported attribute to attrs, within the attribute bounds.
func addAttribute(attrs map[string]string, kv *protobufs.KeyValue) {
	if kv == nil || len(kv.Key) > utf8.UTFMax*MaxAttributeKeyLen || utf8.RuneCountInString(kv.Key) > MaxAttributeKeyLen {
		return
	}
	if _, ok := attrs[kv.Key]; !ok && len(attrs) >= MaxAttributes {
		return
	}
	v := truncateRunes(AnyValueString(kv.Value), MaxAttributeValueLen)
	if !perAgentAttribute[kv.Key] {
		v = intern(v)
	}
	attrs[intern(kv.Key)] = v
}

// perAgentAttribute names attributes whose values differ from agent to agent: interning
// them would only add an entry to the intern table per agent.
var perAgentAttribute = map[string]bool{
	"service.instance.id": true, "host.name": true, "host.id": true, "k8s.pod.name": true,
	"k8s.pod.uid": true, "k8s.node.name": true, "container.id": true,
}

// intern returns s backed by one copy shared with every equal interned string: attribute
// keys, versions and config hashes repeat across a fleet, and each agent would otherwise
// keep copies of its own (the decoder allocates every string anew).
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// internShort interns error messages short enough to be the usual handful of distinct ones
// a fleet reports; longer ones are kept as they are.
func internShort(s string) string {
	if len(s) > 256 {
		return s
	}
	return intern(s)
}

// boundHash cuts a reported hash to MaxHashBytes.
func boundHash(b []byte) []byte {
	return b[:min(len(b), MaxHashBytes)]
}

// componentTypes flattens AvailableComponents to kind -> set of component types. The
// collector reports kinds ("receivers") whose sub-components are the types ("otlp"). It keeps
// at most MaxComponents kinds and types, in name order so that the same report keeps the same.
func componentTypes(m map[string]*protobufs.ComponentDetails) map[string]map[string]struct{} {
	out := make(map[string]map[string]struct{}, min(len(m), MaxComponents))
	n := 0
	for _, kind := range slices.Sorted(maps.Keys(m)) {
		if n >= MaxComponents {
			break
		}
		if len(kind) > MaxComponentNameLen {
			continue
		}
		set := map[string]struct{}{}
		out[kind] = set
		n++
		d := m[kind]
		if d == nil {
			continue
		}
		for _, typ := range slices.Sorted(maps.Keys(d.SubComponentMap)) {
			if n >= MaxComponents {
				break
			}
			if len(typ) <= MaxComponentNameLen {
				set[typ] = struct{}{}
				n++
			}
		}
	}
	return out
}

// truncate cuts s to at most n bytes, on a character boundary. The result does not share
// memory with s, so a long reported string is not kept alive by its prefix.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n])
}

// truncateRunes cuts s to at most n characters, without sharing memory with s.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return strings.Clone(s[:j])
		}
		i++
	}
	return s
}

// UIDString renders an OpAMP instance UID: 16 bytes as a canonical UUID, anything else as hex.
func UIDString(b []byte) string {
	if len(b) == 16 {
		var u uuid.UUID
		copy(u[:], b)
		return u.String()
	}
	return hex.EncodeToString(b)
}

// HashString renders a config hash as lowercase hex.
func HashString(b []byte) string { return hex.EncodeToString(b) }

// EffectiveBody picks the collector config out of an AgentConfigMap: the "" entry, or the only
// entry, or the entries joined in name order.
func EffectiveBody(cm *protobufs.AgentConfigMap) []byte {
	if cm == nil || len(cm.ConfigMap) == 0 {
		return nil
	}
	if f, ok := cm.ConfigMap[""]; ok {
		return f.GetBody()
	}
	if len(cm.ConfigMap) == 1 {
		for _, f := range cm.ConfigMap {
			return f.GetBody()
		}
	}
	names := make([]string, 0, len(cm.ConfigMap))
	for n := range cm.ConfigMap {
		names = append(names, n)
	}
	sort.Strings(names)
	var body []byte
	for _, n := range names {
		body = append(body, cm.ConfigMap[n].GetBody()...)
	}
	return body
}

// AnyValueString renders an attribute value as a string.
func AnyValueString(v *protobufs.AnyValue) string {
	if v == nil {
		return ""
	}
	switch x := v.Value.(type) {
	case *protobufs.AnyValue_StringValue:
		return x.StringValue
	case *protobufs.AnyValue_BoolValue:
		if x.BoolValue {
			return "true"
		}
		return "false"
	case *protobufs.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *protobufs.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	}
	return ""
}
