package fleetsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ProfileSyntax documents the syntax ParseProfile reads.
const ProfileSyntax = `A profile is a comma-separated list of key=value pairs; a value in double quotes may hold
commas, with \" and \\ as escapes inside the quotes. Keys:

  name=NAME               the profile's name
  fraction=F              its share of the fleet, 0 < F <= 1, or a percentage (5%); a profile
                          without a fraction takes the agents no other profile takes
  delay=D | delay=LO-HI   apply time, fixed (500ms) or drawn uniformly from a range (200ms-2s)
  fail=MESSAGE            every apply fails with this error_message
  no-rcs                  never reports remote config status (leaves out ReportsRemoteConfig)
  no-accept               does not accept remote config (leaves out AcceptsRemoteConfig)
  drop-after-push         drops its session as soon as a config arrives, and stays away
  flap-every=D            reconnects every D
  restart-on-apply=D      drops its session once APPLYING, and comes back D later with APPLIED
                          (a collector restarting on a reload)
  unhealthy=MESSAGE       reports health false with this last_error after applying
  missing=KIND/TYPE       a component it lacks (repeatable, or a quoted comma-separated list);
                          implies components
  components              reports its available components
  stale-failed            after a reconnect, reports FAILED again for the last config it failed
  attr.KEY=VALUE          an attribute, for example attr.service.version=0.149.0

The switches (no-rcs, no-accept, drop-after-push, components, stale-failed) also take a
boolean value: no-rcs=false.

Example: name=failing,fraction=0.05,fail="unknown exporter otlp"`

// ParseProfile reads one profile in the syntax ProfileSyntax describes. A profile without a
// fraction has Fraction 0: it is meant as the fleet's default.
func ParseProfile(spec string) (Profile, error) {
	pairs, err := splitPairs(spec)
	if err != nil {
		return Profile{}, err
	}
	var p Profile
	seen := map[string]bool{}
	for _, kv := range pairs {
		if seen[kv.key] && kv.key != "missing" {
			return Profile{}, fmt.Errorf("%s given twice", kv.key)
		}
		seen[kv.key] = true
		if err := p.set(kv); err != nil {
			return Profile{}, fmt.Errorf("%s: %w", kv.key, err)
		}
	}
	return p, nil
}

func (p *Profile) set(kv pair) error {
	b := &p.Behavior
	switch kv.key {
	case "no-rcs":
		return kv.boolean(&b.NoRemoteConfigStatus)
	case "no-accept":
		return kv.boolean(&b.NoAcceptRemoteConfig)
	case "drop-after-push":
		return kv.boolean(&b.DisconnectAfterPush)
	case "components":
		return kv.boolean(&b.ReportComponents)
	case "stale-failed":
		return kv.boolean(&b.StaleFailedAfterReconnect)
	}
	if !kv.hasValue {
		return fmt.Errorf("a value is required")
	}
	v := kv.value
	switch kv.key {
	case "name":
		p.Name = v
	case "fraction":
		f, err := parseFraction(v)
		if err != nil {
			return err
		}
		p.Fraction = f
	case "delay":
		lo, hi, err := ParseDelay(v)
		if err != nil {
			return err
		}
		b.ApplyDelay = UniformDelay(lo, hi)
	case "fail":
		if v == "" {
			return fmt.Errorf("an error message is required")
		}
		b.FailWith = v
	case "restart-on-apply":
		return positiveDuration(v, &b.RestartOnApply)
	case "flap-every":
		return positiveDuration(v, &b.FlapEvery)
	case "unhealthy":
		if v == "" {
			return fmt.Errorf("a last_error is required")
		}
		b.UnhealthyAfterApply = v
	case "missing":
		for c := range strings.SplitSeq(v, ",") {
			c = strings.TrimSpace(c)
			kind, typ, ok := strings.Cut(c, "/")
			if !ok || !slices.Contains(Components[kind], typ) {
				return fmt.Errorf("%q is not one of the components a simulated agent has (kind/type, as in exporters/otlphttp)", c)
			}
			b.MissingComponents = append(b.MissingComponents, c)
		}
	default:
		attr, ok := strings.CutPrefix(kv.key, "attr.")
		if !ok || attr == "" {
			return fmt.Errorf("unknown key")
		}
		if p.Attributes == nil {
			p.Attributes = map[string]string{}
		}
		p.Attributes[attr] = v
	}
	return nil
}

// UniformDelay draws apply times uniformly from [lo, hi].
func UniformDelay(lo, hi time.Duration) func(*rand.Rand) time.Duration {
	if hi <= lo {
		return func(*rand.Rand) time.Duration { return lo }
	}
	return func(r *rand.Rand) time.Duration { return lo + time.Duration(r.Int64N(int64(hi-lo)+1)) }
}

func parseFraction(v string) (float64, error) {
	s, percent := strings.CutSuffix(v, "%")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	if percent {
		f /= 100
	}
	if !(f > 0 && f <= 1) {
		return 0, fmt.Errorf("%s is not in (0, 1]", v)
	}
	return f, nil
}

// ParseDelay reads an apply delay: "500ms", or a range "200ms-2s" to draw from.
func ParseDelay(v string) (lo, hi time.Duration, err error) {
	a, b, isRange := strings.Cut(v, "-")
	if lo, err = time.ParseDuration(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = time.ParseDuration(b); err != nil {
			return 0, 0, err
		}
	}
	if lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("%q is not a duration or a range LO-HI with 0 <= LO <= HI", v)
	}
	return lo, hi, nil
}

// ParseShares reads weighted values, "0.149.0=0.7,0.148.0=0.3"; the weights need not add up
// to one.
func ParseShares(spec string) ([]Share, error) {
	pairs, err := splitPairs(spec)
	if err != nil {
		return nil, err
	}
	var out []Share
	for _, kv := range pairs {
		if !kv.hasValue {
			return nil, fmt.Errorf("%q: want VALUE=WEIGHT", kv.key)
		}
		w, err := strconv.ParseFloat(kv.value, 64)
		if err != nil || !(w > 0) {
			return nil, fmt.Errorf("%q: the weight %q is not a positive number", kv.key, kv.value)
		}
		if slices.ContainsFunc(out, func(s Share) bool { return s.Value == kv.key }) {
			return nil, fmt.Errorf("%q given twice", kv.key)
		}
		out = append(out, Share{Value: kv.key, Weight: w})
	}
	return out, nil
}

// pair is one key, with or without "=value".
type pair struct {
	key, value string
	hasValue   bool
}

func (kv pair) boolean(dst *bool) error {
	if !kv.hasValue {
		*dst = true
		return nil
	}
	v, err := strconv.ParseBool(kv.value)
	if err != nil {
		return fmt.Errorf("%q is not a boolean", kv.value)
	}
	*dst = v
	return nil
}

// splitPairs splits "k1=v1,k2,k3="v,3"" into pairs. Keys and unquoted values are trimmed of
// surrounding spaces.
func splitPairs(spec string) ([]pair, error) {
	var out []pair
	for i := 0; i < len(spec); {
		end := i
		for end < len(spec) && spec[end] != '=' && spec[end] != ',' {
			end++
		}
		kv := pair{key: strings.TrimSpace(spec[i:end])}
		if kv.key == "" {
			return nil, fmt.Errorf("empty key at offset %d of %q", i, spec)
		}
		i = end
		if i < len(spec) && spec[i] == '=' {
			kv.hasValue = true
			i++
			rest := strings.TrimLeft(spec[i:], " ")
			if strings.HasPrefix(rest, `"`) {
				i = len(spec) - len(rest)
				v, n, err := unquote(rest)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", kv.key, err)
				}
				kv.value = v
				i += n
				i += len(spec[i:]) - len(strings.TrimLeft(spec[i:], " "))
				if i < len(spec) && spec[i] != ',' {
					return nil, fmt.Errorf("%s: unexpected %q after the closing quote", kv.key, spec[i:])
				}
			} else {
				end = strings.IndexByte(spec[i:], ',')
				if end < 0 {
					end = len(spec) - i
				}
				kv.value = strings.TrimSpace(spec[i : i+end])
				i += end
			}
		}
		out = append(out, kv)
		if i < len(spec) { // at a comma
			i++
			if strings.TrimSpace(spec[i:]) == "" {
				return nil, fmt.Errorf("trailing comma in %q", spec)
			}
		}
	}
	return out, nil
}

// unquote reads a double-quoted string at the start of s, with \" and \\ as escapes, and
// returns it and the number of bytes it took.
func unquote(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
				return "", 0, fmt.Errorf(`only \" and \\ are escapes inside quotes`)
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated quote")
}

// SetProfiles parses profile specs (ProfileSyntax) into the fleet's profiles and its default:
// at most one spec without a fraction, which takes the agents the others leave.
func (o *Options) SetProfiles(specs []string) error {
	o.Default = Profile{Name: "default"}
	haveDefault := false
	names := map[string]bool{}
	total := 0.0
	for i, spec := range specs {
		p, err := ParseProfile(spec)
		if err != nil {
			return fmt.Errorf("profile %q: %w", spec, err)
		}
		if p.Name == "" {
			p.Name = fmt.Sprintf("profile-%d", i+1)
			if p.Fraction == 0 {
				p.Name = "default"
			}
		}
		if names[p.Name] {
			return fmt.Errorf("profile %q: another profile is named %s", spec, p.Name)
		}
		names[p.Name] = true
		if p.Fraction == 0 {
			if haveDefault {
				return fmt.Errorf("profile %q: only one profile may go without a fraction", spec)
			}
			haveDefault = true
			o.Default = p
			continue
		}
		total += p.Fraction
		o.Profiles = append(o.Profiles, p)
	}
	if !haveDefault && names["default"] {
		return errors.New(`"default" names the agents no profile takes; name the profile otherwise`)
	}
	if total > 1+1e-9 {
		return fmt.Errorf("the profiles' fractions add up to %.4g, more than the whole fleet", total)
	}
	return nil
}

// positiveDuration parses v into *d, refusing a duration that is not above zero.
func positiveDuration(v string, d *time.Duration) error {
	p, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if p <= 0 {
		return fmt.Errorf("%s is not positive", v)
	}
	*d = p
	return nil
}
