package controllers

import (
	"errors"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestConcluded(t *testing.T) {
	for err, want := range map[error]bool{
		nil: true,
		reconcile.TerminalError(errors.New("invalid")):                            true,
		fmt.Errorf("wrapped: %w", reconcile.TerminalError(errors.New("invalid"))): true,
		errors.New("the API server did not answer"):                               false,
	} {
		if got := concluded(err); got != want {
			t.Errorf("concluded(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestConditions(t *testing.T) {
	var list []metav1.Condition
	c := conditions{&list, 7}
	long := string(make([]byte, 2000))
	c.set("Ready", metav1.ConditionFalse, "Stalled", long)
	c.set("Stalled", metav1.ConditionTrue, "Stalled", "x")
	c.remove("Stalled")
	got := meta.FindStatusCondition(list, "Ready")
	if len(list) != 1 || got == nil || got.ObservedGeneration != 7 || len(got.Message) > 1024 {
		t.Errorf("conditions %+v", list)
	}
}
