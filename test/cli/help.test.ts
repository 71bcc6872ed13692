/**
 * `matih --help` with examples, usage errors, and the completion scripts,
 * which bash itself runs here: the candidates it offers come from the
 * command tree.
 */
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { main } from "../../cli/matih.ts";
import { buildProgram } from "../../cli/program.ts";
import { ENTRY, runCli } from "./support.ts";

/** Every leaf command of the tree ("tenants create" and so on), with the help it prints, `Examples` included. */
function helps(): Map<string, string> {
  let text = "";
  const sink = Object.assign(new PassThrough(), { write: (chunk: string) => ((text += chunk), true) });
  const program = buildProgram({ stdout: sink, stderr: sink, stdin: process.stdin, env: {}, cwd: process.cwd() });
  const found = new Map<string, string>();
  const walk = (c: typeof program, prefix: string) => {
    for (const sub of c.commands) {
      if (sub.name().startsWith("__")) continue;
      const path = prefix ? `${prefix} ${sub.name()}` : sub.name();
      if (sub.commands.length === 0) {
        text = "";
        sub.outputHelp();
        found.set(path, text);
      }
      walk(sub, path);
    }
  };
  walk(program, "");
  return found;
}

/** What bash completes for the words typed so far (the last one being completed). */
function bashComplete(script: string, words: string[]): string[] {
  const line = words.map((w) => `'${w}'`).join(" ");
  // A stub `matih` on PATH answers __tenants as the service would, so that slug completion is checked without one.
  const program = `${script}\nmatih() { [ "$1" = __tenants ] && printf 'acme\\nbeta\\n'; }\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _matih; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = spawnSync("bash", ["--norc", "-c", program], { encoding: "utf8" });
  expect(result.stderr).toBe("");
  return result.stdout.split("\n").filter(Boolean).sort();
}

describe("matih --help and completion", () => {
  it("gives every command a help with examples, and the top help names every command", async () => {
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    for (const name of ["tenants", "watch", "changes", "drift", "completion"]) expect(top.stdout).toMatch(new RegExp(`^  ${name}\\b`, "m"));
    expect(top.stdout).toContain("Examples:\n  matih tenants create acme --tier professional --region eastus --admin-email ops@acme.example --watch");
    const all = helps();
    expect([...all.keys()].sort()).toEqual(["changes approve", "changes list", "changes reject", "changes request", "changes show", "completion", "drift run", "drift show", "drift status", "tenants backups", "tenants create", "tenants delete", "tenants get", "tenants list", "tenants restore", "tenants retry", "tenants rollback", "watch"]);
    for (const [path, help] of all) {
      expect(help, path).toMatch(new RegExp(`^Usage: matih ${path}(\\|\\w+)? `, "m"));
      expect(help, path).toMatch(/\nExamples:\n {2}(matih|source|MATIH_URL)/);
    }
    // As a person gets it, from the process.
    const create = await runCli(["tenants", "create", "--help"]);
    expect(create.code).toBe(0);
    expect(create.stdout).toBe(all.get("tenants create"));
  });

  it("exits 2 on wrong usage, naming what is missing", async () => {
    const missing = await runCli(["tenants", "create", "acme", "--region", "eastus", "--admin-email", "a@acme.example"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/required option '--tier <tier>' not specified/);
    const badChoice = await runCli(["tenants", "list", "-o", "xml"]);
    expect(badChoice.code).toBe(2);
    expect(badChoice.stderr).toMatch(/Allowed choices are table, json, yaml/);
    const badNumber = await runCli(["tenants", "rollback", "acme", "--to-phase", "10"]);
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toContain("--to-phase must be a whole number from 1 to 9");
    // The entry's own function answers the code rather than exiting, so that it can be called in-process too.
    expect(await main(["tenants", "rollback", "acme", "--to-phase", "0"])).toBe(2);
    const badUrl = await runCli(["tenants", "list", "--url", "ftp://x"]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('the service URL "ftp://x" is not an http(s) URL');
  });

  it("says where it could not reach the service", async () => {
    // A port that was free a moment ago: nothing listens there.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    const result = await runCli(["tenants", "list", "--url", `http://127.0.0.1:${port}`, "--token", "x"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: cannot reach the service at http://127.0.0.1:${port} (ECONNREFUSED); is it running (npm start), and is --url or MATIH_URL right?\n`);
  });

  it("completes commands, subcommands, options, option values and tenant slugs in bash", async () => {
    const { stdout: script, code } = await runCli(["completion", "bash"]);
    expect(code).toBe(0);
    expect(script).toContain("complete -F _matih matih");
    expect(bashComplete(script, ["matih", ""])).toEqual(expect.arrayContaining(["changes", "completion", "drift", "tenants", "watch", "--output", "--url", "--token"]));
    expect(bashComplete(script, ["matih", "te"])).toEqual(["tenants"]);
    expect(bashComplete(script, ["matih", "tenants", ""])).toEqual(expect.arrayContaining(["backups", "create", "delete", "get", "list", "restore", "retry", "rollback"]));
    expect(bashComplete(script, ["matih", "--url", "http://x", "changes", "ap"])).toEqual(["approve"]);
    expect(bashComplete(script, ["matih", "tenants", "create", "acme", "--tier", ""])).toEqual(["enterprise", "free", "professional"]);
    expect(bashComplete(script, ["matih", "-o", "y"])).toEqual(["yaml"]);
    expect(bashComplete(script, ["matih", "tenants", "create", "acme", "--w"])).toEqual(["--watch"]);
    expect(bashComplete(script, ["matih", "tenants", "delete", "--confirm", "x", "--"])).toEqual(expect.arrayContaining(["--confirm", "--skip-backup", "--watch"]));
    expect(bashComplete(script, ["matih", "watch", ""])).toEqual(expect.arrayContaining(["acme", "beta"]));
    expect(bashComplete(script, ["matih", "drift", "status", "--state", "D"])).toEqual(["DRIFTED"]);
  });

  it("prints a zsh completion built from the same tree, and refuses other shells", async () => {
    const zsh = await runCli(["completion", "zsh"]);
    expect(zsh.code).toBe(0);
    expect(zsh.stdout.split("\n")[0]).toBe("#compdef matih");
    expect(zsh.stdout).toContain("compdef _matih matih");
    expect(zsh.stdout).toContain('"tenants create") candidates="--tier --region --admin-email --display-name --last-phase --idempotency-key --watch -w --help');
    expect(zsh.stdout).toContain('--tier) candidates="free professional enterprise";;');
    // The shared part of both scripts is valid shell: bash parses the zsh script's body too.
    expect(spawnSync("bash", ["-n", "-c", zsh.stdout.replace(/^ *setopt .*$/m, "").replace(/\$\{=candidates\}/, "$candidates")], { encoding: "utf8" }).status).toBe(0);
    // zsh ties `path` to PATH: a completion that set it would leave the shell unable to find any command.
    expect(zsh.stdout).not.toMatch(/(^|[\s;])(local |typeset )?path=/m);
    const fish = await runCli(["completion", "fish"]);
    expect(fish.code).toBe(2);
    expect(fish.stderr).toContain("no completion for fish: bash or zsh");
  });

  it("runs through the package's bin shim on the Node that runs it, starting the pinned Node when that one cannot strip types", () => {
    const shim = ENTRY.replace(/matih\.ts$/, "matih.mjs");
    const result = spawnSync(process.execPath, [shim, "--version"], { encoding: "utf8" });
    expect(result.stdout.trim()).toBe("0.1.0");
    expect(result.status).toBe(0);
    // A Node without type stripping (as Node 20 on PATH is) could not import the .ts entry itself: the shim hands over to
    // node_modules/.bin/node, and the child's exit code comes back through it.
    const older = spawnSync(process.execPath, ["--no-experimental-strip-types", shim, "completion", "fish"], { encoding: "utf8" });
    expect(older.stderr).toContain("no completion for fish");
    expect(older.status).toBe(2);
  });

  // zsh is not part of the machine's kind (apt-get install zsh): without it this one cannot run, and says so.
  it.skipIf(process.env.CI !== "true" && spawnSync("zsh", ["--version"]).status !== 0)("completes in zsh itself, with compadd receiving the candidates (skipped without zsh, except under CI=true, where .ci/run installs it)", async () => {
    const { stdout: script } = await runCli(["completion", "zsh"]);
    const complete = (words: string[]) => {
      const program = [
        "compdef() { :; }",
        script,
        "compadd() { shift; print -l -- \"$@\"; }",
        "matih() { [[ $1 == __tenants ]] && print -l acme beta; }",
        `words=(${words.map((w) => `'${w}'`).join(" ")}); CURRENT=${words.length}; _matih`,
      ].join("\n");
      const result = spawnSync("zsh", ["-f", "-c", program], { encoding: "utf8" });
      expect(result.stderr).toBe("");
      return result.stdout.split("\n").filter(Boolean).sort();
    };
    expect(complete(["matih", "tenants", ""])).toEqual(expect.arrayContaining(["create", "delete", "get", "list", "retry", "rollback", "--output"]));
    expect(complete(["matih", "tenants", "create", "acme", "--tier", ""])).toEqual(["enterprise", "free", "professional"]);
    expect(complete(["matih", "--url", "http://x", "watch", ""])).toEqual(expect.arrayContaining(["acme", "beta"]));
  });
});
