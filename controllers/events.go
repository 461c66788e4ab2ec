package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// Events is the one way the engine records Events: a reason, an action and a note, on the
// object the event is about.
type Events struct {
	Recorder recorder.EventRecorder
}

// Normal records an informational Event.
func (e *Events) Normal(obj runtime.Object, reason, action, format string, args ...any) {
	e.record(obj, corev1.EventTypeNormal, reason, action, format, args...)
}

// Warning records an Event that asks for attention.
func (e *Events) Warning(obj runtime.Object, reason, action, format string, args ...any) {
	e.record(obj, corev1.EventTypeWarning, reason, action, format, args...)
}

func (e *Events) record(obj runtime.Object, typ, reason, action, format string, args ...any) {
	if e == nil || e.Recorder == nil {
		return
	}
	// An Event's note is limited to 1 KiB by the API server.
	e.Recorder.Eventf(obj, nil, typ, reason, action, "%s", truncate(fmt.Sprintf(format, args...), 1024))
}
