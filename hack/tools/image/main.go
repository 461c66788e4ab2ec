// Command image assembles a container image from a static binary and a few files, without a
// container engine: an empty base, one layer, the config (entrypoint, user, labels, platform),
// written as an OCI image layout and as a tarball that `docker load` and `kind load
// image-archive` accept. The output is reproducible: every timestamp is the -created time.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type labels map[string]string

func (l labels) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labels) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	l[k] = v
	return nil
}

type options struct {
	binary, binaryPath, rootfs string
	entrypoint, user, platform string
	ref, ociDir, tarFile       string
	created                    time.Time
	labels                     labels
}

func main() {
	o := options{labels: labels{}}
	var created string
	flag.StringVar(&o.binary, "binary", "", "static binary to put in the image")
	flag.StringVar(&o.binaryPath, "binary-path", "/ampora", "where the binary goes in the image")
	flag.StringVar(&o.rootfs, "rootfs", "", "directory whose files are added at / (e.g. etc/passwd)")
	flag.StringVar(&o.entrypoint, "entrypoint", "/ampora", "entrypoint (one argument)")
	flag.StringVar(&o.user, "user", "65532:65532", "user (uid:gid) the entrypoint runs as")
	flag.StringVar(&o.platform, "platform", "linux/amd64", "os/arch of the image")
	flag.StringVar(&o.ref, "ref", "", "image reference, e.g. ghcr.io/ampora-io/ampora:0.1.0")
	flag.StringVar(&o.ociDir, "oci", "", "write an OCI image layout into this directory (replaced)")
	flag.StringVar(&o.tarFile, "tar", "", "write a docker-loadable tarball to this file")
	flag.StringVar(&created, "created", "1970-01-01T00:00:00Z", "creation time (RFC 3339) of the image and of every file in it")
	flag.Var(o.labels, "label", "image label KEY=VALUE (repeatable)")
	flag.Parse()
	var err error
	if o.created, err = time.Parse(time.RFC3339, created); err != nil {
		fatal(fmt.Errorf("-created: %w", err))
	}
	digest, err := run(o)
	if err != nil {
		fatal(err)
	}
	fmt.Println(digest)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

func run(o options) (v1.Hash, error) {
	if o.binary == "" || o.ref == "" || (o.ociDir == "" && o.tarFile == "") {
		return v1.Hash{}, errors.New("-binary, -ref and -oci or -tar are required")
	}
	ref, err := name.ParseReference(o.ref)
	if err != nil {
		return v1.Hash{}, err
	}
	osName, arch, ok := strings.Cut(o.platform, "/")
	if !ok {
		return v1.Hash{}, fmt.Errorf("-platform: want os/arch, got %q", o.platform)
	}
	layerTar, err := rootfsTar(o)
	if err != nil {
		return v1.Hash{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return v1.Hash{}, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: o.created},
			CreatedBy: "image -binary " + filepath.Base(o.binary),
			Comment:   "static binary on an empty base",
		},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return v1.Hash{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = osName, arch
	cf.Created = v1.Time{Time: o.created}
	cf.Config.Entrypoint = []string{o.entrypoint}
	cf.Config.Cmd = nil
	cf.Config.User = o.user
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=/"}
	cf.Config.Labels = o.labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}

	if o.ociDir != "" {
		if err := os.RemoveAll(o.ociDir); err != nil {
			return v1.Hash{}, err
		}
		p, err := layout.Write(o.ociDir, empty.Index)
		if err != nil {
			return v1.Hash{}, err
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": ref.Name(),
		}), layout.WithPlatform(v1.Platform{OS: osName, Architecture: arch})); err != nil {
			return v1.Hash{}, err
		}
	}
	if o.tarFile != "" {
		tmp := o.tarFile + ".tmp"
		if err := tarball.WriteToFile(tmp, ref, img); err != nil {
			return v1.Hash{}, err
		}
		if err := os.Rename(tmp, o.tarFile); err != nil {
			return v1.Hash{}, err
		}
	}
	return digest, nil
}

// rootfsTar is the image's only layer: the rootfs directory's files (owned by root, read-only
// for others) and the binary, in a fixed order with fixed times.
func rootfsTar(o options) ([]byte, error) {
	type entry struct {
		name string
		mode int64
		body []byte
		dir  bool
	}
	var entries []entry
	dirs := map[string]bool{}
	addParents := func(p string) {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	if o.rootfs != "" {
		err := filepath.WalkDir(o.rootfs, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == o.rootfs {
				return err
			}
			rel, err := filepath.Rel(o.rootfs, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				dirs[rel] = true
				return nil
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("%s: only regular files and directories are supported", p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			addParents(rel)
			entries = append(entries, entry{name: rel, mode: 0o644, body: b})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, err
	}
	binName := strings.TrimPrefix(path.Clean(o.binaryPath), "/")
	addParents(binName)
	entries = append(entries, entry{name: binName, mode: 0o755, body: bin})
	for d := range dirs {
		entries = append(entries, entry{name: d, mode: 0o755, dir: true})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: o.created, Format: tar.FormatPAX,
			Uname: "root", Gname: "root"}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
