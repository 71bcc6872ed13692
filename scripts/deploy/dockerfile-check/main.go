// dockerfile-check parses a Dockerfile with BuildKit's own parser and runs
// BuildKit's lint rules over it (what `docker build --check` reports), without
// a Docker engine: this machine has the docker CLI but no daemon.
//
//	dockerfile-check <Dockerfile> [<context dir>]
//
// Prints one JSON document on stdout: the stages (name, base image, and each
// instruction as BuildKit parsed it), the lint warnings and, with a context
// folder, every file of it that its .dockerignore lets into the build context
// (matched by moby/patternmatcher, the matcher docker and BuildKit use). Exits 1 when the
// file does not parse, 0 otherwise (warnings are for the caller to judge).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

type instruction struct {
	Line     int      `json:"line"`
	Keyword  string   `json:"keyword"`
	Flags    []string `json:"flags"`
	Args     []string `json:"args"`
	Original string   `json:"original"`
}

type stage struct {
	Name         string        `json:"name"`
	Base         string        `json:"base"`
	Instructions []instruction `json:"instructions"`
}

type warning struct {
	Rule        string `json:"rule"`
	Description string `json:"description"`
	Message     string `json:"message"`
	Line        int    `json:"line"`
}

type result struct {
	MetaArgs []string  `json:"metaArgs"`
	Stages   []stage   `json:"stages"`
	Warnings []warning `json:"warnings"`
	Context  []string  `json:"context"`
}

func main() {
	if len(os.Args) != 2 && len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-check <Dockerfile> [<context dir>]")
		os.Exit(2)
	}
	dt, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	ast, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		fail(err)
	}
	out := result{MetaArgs: []string{}, Stages: []stage{}, Warnings: []warning{}, Context: []string{}}
	// The stages as BuildKit's instruction parser reads them: a malformed
	// instruction (a HEALTHCHECK without CMD, say) fails here as it would in a build.
	lint := linter.New(&linter.Config{})
	stages, metaArgs, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		fail(err)
	}
	for _, m := range metaArgs {
		for _, kv := range m.Args {
			out.MetaArgs = append(out.MetaArgs, kv.Key)
		}
	}
	// Instructions of each stage from the AST (original text and flags), in order.
	current := -1
	for _, child := range ast.AST.Children {
		words := []string{}
		for n := child.Next; n != nil; n = n.Next {
			words = append(words, n.Value)
		}
		keyword := strings.ToLower(child.Value)
		if keyword == "from" {
			s := stages[len(out.Stages)]
			out.Stages = append(out.Stages, stage{Name: s.Name, Base: s.BaseName, Instructions: []instruction{}})
			current = len(out.Stages) - 1
		}
		ins := instruction{Line: child.StartLine, Keyword: keyword, Flags: child.Flags, Args: words, Original: child.Original}
		if ins.Flags == nil {
			ins.Flags = []string{}
		}
		if current >= 0 {
			out.Stages[current].Instructions = append(out.Stages[current].Instructions, ins)
		}
	}
	// Every lint rule, as `docker build --check` runs them (the conversion to LLB checks most of them).
	ctx := context.Background()
	// The lint results name their source by an LLB definition, which a build has; an empty one does here.
	def, err := llb.Scratch().Marshal(ctx)
	if err != nil {
		fail(err)
	}
	opt := dockerfile2llb.ConvertOpt{
		SourceMap:    &llb.SourceMap{Filename: os.Args[1], Language: "Dockerfile", Data: dt, Definition: def},
		MetaResolver: offlineResolver{},
	}
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, opt)
	if err != nil {
		fail(err)
	}
	if res.Error != nil {
		fail(fmt.Errorf("%s", res.Error.Message))
	}
	for _, w := range res.Warnings {
		line := 0
		if len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		out.Warnings = append(out.Warnings, warning{Rule: w.RuleName, Description: w.Description, Message: w.Detail, Line: line})
	}
	if len(os.Args) == 3 {
		files, err := contextFiles(os.Args[2])
		if err != nil {
			fail(err)
		}
		out.Context = files
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

// contextFiles walks dir as a build sends it: .dockerignore's patterns decide,
// a folder excluded with no exception under it is not entered.
func contextFiles(dir string) ([]string, error) {
	patterns := []string{}
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, err
	}
	files := []string{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "." {
			return nil
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if d.IsDir() {
			if excluded && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if !excluded {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	return files, err
}

// offlineResolver answers every base image with an empty linux/amd64 config:
// no registry is reachable here, so rules that need a base image's real config
// (its platform, its ENV) see an empty one, and no image is pulled.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	return ref, "", []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dockerfile-check:", err)
	os.Exit(1)
}
