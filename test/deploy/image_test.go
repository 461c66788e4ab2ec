package deploy_test

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// OCI image layout and image-spec structures, as much as the checks need.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	Manifests     []descriptor `json:"manifests"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Created      string `json:"created"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Env        []string          `json:"Env"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// layoutImage reads the single image of an OCI image layout.
type layoutImage struct {
	dir      string
	ref      string
	desc     descriptor
	manifest manifest
	config   imageConfig
}

// blob reads a blob and checks it against its digest and size.
func (l *layoutImage) blob(d descriptor) []byte {
	GinkgoHelper()
	algo, hexDigest, ok := strings.Cut(d.Digest, ":")
	Expect(ok && algo == "sha256").To(BeTrue(), d.Digest)
	b, err := os.ReadFile(filepath.Join(l.dir, "blobs", "sha256", hexDigest))
	Expect(err).NotTo(HaveOccurred())
	sum := sha256.Sum256(b)
	Expect(hex.EncodeToString(sum[:])).To(Equal(hexDigest), "blob %s does not match its digest", d.Digest)
	Expect(int64(len(b))).To(Equal(d.Size), "blob %s has the wrong size", d.Digest)
	return b
}

func readLayout(dir string) *layoutImage {
	GinkgoHelper()
	l := &layoutImage{dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	Expect(err).NotTo(HaveOccurred())
	Expect(string(b)).To(MatchJSON(`{"imageLayoutVersion": "1.0.0"}`))
	b, err = os.ReadFile(filepath.Join(dir, "index.json"))
	Expect(err).NotTo(HaveOccurred())
	var idx index
	Expect(json.Unmarshal(b, &idx)).To(Succeed())
	Expect(idx.SchemaVersion).To(Equal(2))
	Expect(idx.Manifests).To(HaveLen(1))
	l.desc = idx.Manifests[0]
	l.ref = l.desc.Annotations["org.opencontainers.image.ref.name"]
	Expect(l.desc.MediaType).To(Equal("application/vnd.oci.image.manifest.v1+json"))
	Expect(json.Unmarshal(l.blob(l.desc), &l.manifest)).To(Succeed())
	Expect(l.manifest.Config.MediaType).To(Equal("application/vnd.oci.image.config.v1+json"))
	Expect(json.Unmarshal(l.blob(l.manifest.Config), &l.config)).To(Succeed())
	return l
}

// file is one entry of the image's file system.
type file struct {
	mode int64
	uid  int
	typ  byte
	body []byte
}

// files unpacks the image's layers into a map by path, checking each layer's diff ID.
func (l *layoutImage) files() map[string]file {
	GinkgoHelper()
	Expect(l.manifest.Layers).To(HaveLen(len(l.config.RootFS.DiffIDs)))
	out := map[string]file{}
	for i, d := range l.manifest.Layers {
		Expect(d.MediaType).To(Equal("application/vnd.oci.image.layer.v1.tar+gzip"))
		zr, err := gzip.NewReader(strings.NewReader(string(l.blob(d))))
		Expect(err).NotTo(HaveOccurred())
		h := sha256.New()
		tr := tar.NewReader(io.TeeReader(zr, h))
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			Expect(err).NotTo(HaveOccurred())
			body, err := io.ReadAll(tr)
			Expect(err).NotTo(HaveOccurred())
			out["/"+strings.TrimSuffix(hdr.Name, "/")] = file{mode: hdr.Mode, uid: hdr.Uid, typ: hdr.Typeflag, body: body}
		}
		_, err = io.Copy(io.Discard, zr)
		Expect(err).NotTo(HaveOccurred())
		Expect("sha256:"+hex.EncodeToString(h.Sum(nil))).To(Equal(l.config.RootFS.DiffIDs[i]), "diff ID of layer %d", i)
	}
	return out
}

// dockerfileFinalStage returns the instructions of the Dockerfile's last stage, with
// continuation lines joined.
func dockerfileFinalStage() []string {
	GinkgoHelper()
	var all []string
	cur := ""
	for _, line := range strings.Split(read("Dockerfile"), "\n") {
		t := strings.TrimSpace(line)
		if cur == "" && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(t, "\\"); ok {
			cur += rest + " "
			continue
		}
		all = append(all, cur+t)
		cur = ""
	}
	last := -1
	for i, ins := range all {
		if strings.HasPrefix(ins, "FROM ") {
			last = i
		}
	}
	Expect(last).To(BeNumerically(">=", 0))
	return all[last:]
}

var _ = Describe("The image", Ordered, func() {
	var img *layoutImage
	var version string

	BeforeAll(func(ctx SpecContext) {
		dir, err := script(ctx, "hack/image.sh")
		Expect(err).NotTo(HaveOccurred())
		img = readLayout(dir)
		m := regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?`).FindStringSubmatch(read("charts/ampora/Chart.yaml"))
		Expect(m).NotTo(BeNil())
		version = m[1]
	}, NodeTimeout(15*time.Minute))

	It("is a linux/amd64 image of the static binary, run as user 65532 from /ampora", func() {
		Expect(img.ref).To(Equal("ghcr.io/ampora-io/ampora:"+version), "the tag the chart's default image uses")
		Expect(img.desc.Platform).NotTo(BeNil())
		Expect(img.desc.Platform.OS).To(Equal("linux"))
		Expect(img.desc.Platform.Architecture).To(Equal("amd64"))
		c := img.config
		Expect(c.OS).To(Equal("linux"))
		Expect(c.Architecture).To(Equal("amd64"))
		Expect(c.Config.Entrypoint).To(Equal([]string{"/ampora"}))
		Expect(c.Config.Cmd).To(BeEmpty())
		Expect(c.Config.User).To(Equal("65532:65532"))
		Expect(c.RootFS.Type).To(Equal("layers"))

		Expect(c.Config.Labels).To(HaveKeyWithValue("org.opencontainers.image.title", "ampora"))
		Expect(c.Config.Labels).To(HaveKeyWithValue("org.opencontainers.image.source", "https://github.com/ampora-io/ampora"))
		Expect(c.Config.Labels).To(HaveKeyWithValue("org.opencontainers.image.version", version))
		Expect(c.Config.Labels).To(HaveKey("org.opencontainers.image.description"))
		Expect(c.Config.Labels["org.opencontainers.image.revision"]).To(MatchRegexp(`^([0-9a-f]{40}|unknown)$`))
		created, err := time.Parse(time.RFC3339, c.Config.Labels["org.opencontainers.image.created"])
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Created).To(Equal(created.UTC().Format(time.RFC3339)), "one creation time throughout")
		for k := range c.Config.Labels {
			Expect(k).To(HavePrefix("org.opencontainers.image."))
		}
	})

	It("holds the binary and the non-root user, nothing else", func() {
		files := img.files()
		keys := make([]string, 0, len(files))
		for k := range files {
			keys = append(keys, k)
		}
		Expect(keys).To(ConsistOf("/ampora", "/etc", "/etc/passwd", "/etc/group"))
		bin := files["/ampora"]
		Expect(bin.typ).To(Equal(byte(tar.TypeReg)))
		Expect(bin.mode).To(Equal(int64(0o755)))
		Expect(bin.uid).To(Equal(0), "owned by root, so the non-root user cannot change it")
		Expect(string(files["/etc/passwd"].body)).To(ContainSubstring("nonroot:x:65532:65532:"))
		Expect(string(files["/etc/group"].body)).To(ContainSubstring("nonroot:x:65532:"))

		// The binary is static, for linux/amd64, and carries the time zone database (GatePolicy
		// windows name time zones; the image has no /usr/share/zoneinfo).
		path := filepath.Join(GinkgoT().TempDir(), "ampora")
		Expect(os.WriteFile(path, bin.body, 0o600)).To(Succeed())
		info, err := buildinfo.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Path).To(Equal("github.com/ampora-io/ampora/cmd/ampora"))
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		Expect(settings).To(HaveKeyWithValue("CGO_ENABLED", "0"))
		Expect(settings).To(HaveKeyWithValue("GOOS", "linux"))
		Expect(settings).To(HaveKeyWithValue("GOARCH", "amd64"))
		Expect(settings).To(HaveKeyWithValue("-tags", "timetzdata"))
		Expect(settings).To(HaveKeyWithValue("-trimpath", "true"))
	})

	It("is also written as a tarball for docker load, with the same config", func() {
		f, err := os.Open(filepath.Join(root, "bin", "image", "ampora.tar"))
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		tr := tar.NewReader(f)
		entries := map[string][]byte{}
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			Expect(err).NotTo(HaveOccurred())
			if hdr.Name == "manifest.json" || strings.HasPrefix(hdr.Name, "sha256:") {
				b, err := io.ReadAll(tr)
				Expect(err).NotTo(HaveOccurred())
				entries[hdr.Name] = b
			}
		}
		var m []struct {
			Config   string   `json:"Config"`
			RepoTags []string `json:"RepoTags"`
			Layers   []string `json:"Layers"`
		}
		Expect(json.Unmarshal(entries["manifest.json"], &m)).To(Succeed())
		Expect(m).To(HaveLen(1))
		Expect(m[0].RepoTags).To(Equal([]string{img.ref}))
		Expect(m[0].Config).To(Equal(img.manifest.Config.Digest), "the same config blob as the OCI layout")
		Expect(m[0].Layers).To(HaveLen(len(img.manifest.Layers)))
	})

	It("is reproducible: a rebuild gives the same digest", func(ctx SpecContext) {
		dir, err := script(ctx, "hack/image.sh")
		Expect(err).NotTo(HaveOccurred())
		Expect(readLayout(dir).desc.Digest).To(Equal(img.desc.Digest))
	}, NodeTimeout(15*time.Minute))

	It("is what the Dockerfile builds: same entrypoint, user, labels and build flags", func() {
		stage := dockerfileFinalStage()
		Expect(stage[0]).To(Equal("FROM scratch"), "an empty base, as hack/image.sh assembles")
		var user, entrypoint, workdir string
		var envs []string
		labels := map[string]string{}
		labelRE := regexp.MustCompile(`([a-z0-9.\-]+)="([^"]*)"`)
		for _, ins := range stage {
			switch {
			case strings.HasPrefix(ins, "USER "):
				user = strings.TrimPrefix(ins, "USER ")
			case strings.HasPrefix(ins, "ENTRYPOINT "):
				Expect(json.Unmarshal([]byte(strings.TrimPrefix(ins, "ENTRYPOINT ")), new([]string))).To(Succeed(), "exec form")
				entrypoint = strings.TrimPrefix(ins, "ENTRYPOINT ")
			case strings.HasPrefix(ins, "WORKDIR "):
				workdir = strings.TrimPrefix(ins, "WORKDIR ")
			case strings.HasPrefix(ins, "ENV "):
				envs = append(envs, strings.TrimPrefix(ins, "ENV "))
			case strings.HasPrefix(ins, "LABEL "):
				for _, m := range labelRE.FindAllStringSubmatch(ins, -1) {
					labels[m[1]] = m[2]
				}
			}
		}
		Expect(user).To(Equal(img.config.Config.User))
		Expect(workdir).To(Equal(img.config.Config.WorkingDir))
		Expect(envs).To(Equal(img.config.Config.Env))
		want, _ := json.Marshal(img.config.Config.Entrypoint)
		Expect(entrypoint).To(MatchJSON(want))
		Expect(labels).To(HaveLen(len(img.config.Config.Labels)))
		for k, v := range img.config.Config.Labels {
			Expect(labels).To(HaveKey(k))
			if !strings.Contains(labels[k], "${") {
				Expect(labels[k]).To(Equal(v), "label %s", k)
			}
		}
		Expect(read("Dockerfile")).To(ContainSubstring(fmt.Sprintf("ARG VERSION=%s\n", version)))

		// The same go build flags in both.
		for _, flag := range []string{"CGO_ENABLED=0", "-trimpath", "-tags timetzdata", `-ldflags "-s -w"`, "./cmd/ampora"} {
			Expect(read("Dockerfile")).To(ContainSubstring(flag))
			Expect(read("hack/image.sh")).To(ContainSubstring(flag))
		}
	})
})
