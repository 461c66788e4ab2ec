package readapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRanksBounds(t *testing.T) {
	for _, tt := range []struct {
		name string
		body string
		want string // the error's substring; "" for none
	}{
		{"ranks", `{"replica":"r","ranks":["00000000000000ff","0000000000000001"]}`, ""},
		{"an answer larger than the bound", `{"replica":"r","ranks":["` + strings.Repeat("0", maxRanksBytes) + `"]}`, "answer too large"},
		{"a malformed rank", `{"replica":"r","ranks":["not-a-rank"]}`, "malformed rank"},
		{"an uppercase rank the status pattern refuses", `{"replica":"r","ranks":["00000000000000FF"]}`, "malformed rank"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(tt.body)) }))
			defer srv.Close()
			r := &Peers{Token: func() (string, error) { return "t", nil }, HTTP: srv.Client(), Check: AddressCheck{Mode: AddressCheckNone}}
			ranks, err := r.Ranks(context.Background(), map[string]Replica{"r": {Name: "r", URL: srv.URL}}, "ns", "g", "h", "", 10)
			if tt.want == "" {
				if err != nil || len(ranks) != 2 || ranks[0] != "0000000000000001" {
					t.Fatalf("Ranks = %v, %v", ranks, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Ranks error %v, want one with %q", err, tt.want)
			}
		})
	}
}
