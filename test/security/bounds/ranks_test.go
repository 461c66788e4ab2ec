package bounds_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("Ranks from a replica", func() {
	It("refuses a malformed rank instead of writing it as a batch cutoff the status pattern refuses", func() {
		ctx := context.Background()
		ns, _ := h.Namespace("ranks")
		group(ns, "gateways")
		// A replica that answers a rank status.currentBatch.toRank cannot hold (its pattern is
		// 16 lowercase hex digits): a broken or impostor sidecar whose Lease is live.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"replica":"impostor","ranks":["NOT-A-RANK"]}`))
		}))
		DeferCleanup(srv.Close)
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: harness.OperatorNamespace, Name: "ampora-opamp-impostor-" + ns,
				Labels:      map[string]string{readapi.LabelReplicaLease: "true"},
				Annotations: map[string]string{readapi.AnnotationReadAPI: srv.URL}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("impostor-" + ns), LeaseDurationSeconds: ptr.To(int32(3600)),
				RenewTime: &metav1.MicroTime{Time: time.Now()}},
		}
		Expect(env.Client.Create(ctx, lease)).To(Succeed())
		DeferCleanup(func() { Expect(env.Client.Delete(ctx, lease)).To(Succeed()) })

		body := harness.CollectorConfig("ranks")
		Expect(env.Client.Create(ctx, rollout(ns, "web", "gateways", body))).To(Succeed())
		// The pass that asked for ranks still records the revision; without the check its whole
		// status write is refused, on every pass.
		Eventually(func() string { return h.Rollout(ns, "web").Status.ConfigHash }, 30*time.Second).
			Should(Equal(collectorconfig.Hash([]byte(body))))
		Consistently(func() bool { return h.Rollout(ns, "web").Status.CurrentBatch == nil }, 3*time.Second).Should(BeTrue())
	})
})
