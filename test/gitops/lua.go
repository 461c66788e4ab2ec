// Package gitops runs Ampora's Argo CD health checks and resource actions the way Argo CD
// runs them (Lua, with the object as the global obj), for the GitOps test suite.
package gitops

import (
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	"github.com/ampora-io/ampora/test/testenv"
)

// Dir is where the customizations live, in Argo CD's <group>/<Kind>/ layout.
func Dir(kind string) string {
	return filepath.Join(testenv.Root(), "config", "argocd", "fleet.ampora.io", kind)
}

// Health is Argo CD's verdict on a resource.
type Health struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// run executes a script with obj as its global and returns what it returns.
func run(script string, obj map[string]any) (any, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	// Argo CD opens only these libraries.
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	return fromLua(l.Get(-1)), nil
}

// HealthOf runs <Kind>/health.lua on obj.
func HealthOf(kind string, obj map[string]any) (Health, error) {
	script, err := os.ReadFile(filepath.Join(Dir(kind), "health.lua"))
	if err != nil {
		return Health{}, err
	}
	out, err := run(string(script), obj)
	if err != nil {
		return Health{}, err
	}
	m, ok := out.(map[string]any)
	if !ok {
		return Health{}, fmt.Errorf("health.lua returned %T", out)
	}
	h := Health{}
	h.Status, _ = m["status"].(string)
	h.Message, _ = m["message"].(string)
	return h, nil
}

// Discover runs actions/discovery.lua and returns each action with whether it is disabled.
func Discover(kind string, obj map[string]any) (map[string]bool, error) {
	script, err := os.ReadFile(filepath.Join(Dir(kind), "actions", "discovery.lua"))
	if err != nil {
		return nil, err
	}
	out, err := run(string(script), obj)
	if err != nil {
		return nil, err
	}
	m, _ := out.(map[string]any)
	actions := map[string]bool{}
	for name, v := range m {
		disabled := false
		if opts, ok := v.(map[string]any); ok {
			disabled, _ = opts["disabled"].(bool)
		}
		actions[name] = disabled
	}
	return actions, nil
}

// Act runs actions/<action>/action.lua on obj and returns the object it produces.
func Act(kind, action string, obj map[string]any) (map[string]any, error) {
	script, err := os.ReadFile(filepath.Join(Dir(kind), "actions", action, "action.lua"))
	if err != nil {
		return nil, err
	}
	out, err := run(string(script), obj)
	if err != nil {
		return nil, err
	}
	m, ok := out.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("action.lua returned %T", out)
	}
	return m, nil
}

// ReadObject reads a YAML file as a generic object.
func ReadObject(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, yaml.Unmarshal(b, &m)
}

func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case map[string]any:
		t := l.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for _, e := range x {
			t.Append(toLua(l, e))
		}
		return t
	}
	return lua.LString(fmt.Sprint(v))
}

func fromLua(v lua.LValue) any {
	switch x := v.(type) {
	case *lua.LNilType:
		return nil
	case lua.LBool:
		return bool(x)
	case lua.LString:
		return string(x)
	case lua.LNumber:
		f := float64(x)
		if f == float64(int64(f)) {
			return int64(f)
		}
		return f
	case *lua.LTable:
		if n := x.MaxN(); n > 0 {
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				out = append(out, fromLua(x.RawGetInt(i)))
			}
			return out
		}
		out := map[string]any{}
		x.ForEach(func(k, val lua.LValue) { out[k.String()] = fromLua(val) })
		return out
	}
	return v.String()
}
