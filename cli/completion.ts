/**
 * Shell completion, generated from the command tree itself so that it can
 * never fall behind a new command or option: command and subcommand names,
 * each command's options, the allowed values of options with choices, and
 * tenant slugs where a command takes a tenant (asked of the service through
 * the hidden `matih __tenants`, silent when it cannot answer).
 */
import type { Command, Option } from "commander";

interface Node {
  /** "" for the top, else "tenants create" and so on. */
  path: string;
  subcommands: Array<{ name: string; description: string }>;
  options: string[];
  /** Whether its first argument is a tenant. */
  takesTenant: boolean;
}

const visible = (c: Command) => !(c as unknown as { _hidden?: boolean })._hidden;

function walk(command: Command, path: string, into: Node[]): void {
  const options = [...command.options, ...(path === "" ? [] : [])].flatMap((o: Option) => [o.long, o.short].filter((f): f is string => !!f));
  const subs = command.commands.filter(visible);
  into.push({
    path,
    subcommands: subs.map((c) => ({ name: c.name(), description: c.description() })),
    options: [...options, "--help"],
    takesTenant: command.registeredArguments[0]?.name() === "tenant",
  });
  for (const sub of subs) walk(sub, path ? `${path} ${sub.name()}` : sub.name(), into);
}

/** Every option that takes a value, with its choices (empty: free text), across the tree. */
function valueOptions(program: Command): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const visit = (c: Command) => {
    for (const o of c.options) {
      if (!o.required && !o.optional) continue;
      for (const flag of [o.long, o.short]) if (flag) found.set(flag, [...new Set([...(found.get(flag) ?? []), ...(o.argChoices ?? [])])]);
    }
    c.commands.forEach(visit);
  };
  visit(program);
  return found;
}

const shellWords = (words: string[]) => words.join(" ");

export function completionScript(program: Command, shell: "bash" | "zsh"): string {
  const nodes: Node[] = [];
  walk(program, "", nodes);
  const values = valueOptions(program);
  const globalOptions = nodes[0]!.options;
  const valueCases = [...values.entries()].map(([flag, choices]) => `    ${flag}) ${choices.length ? `candidates="${shellWords(choices)}"` : "return 0"};;`).join("\n");
  const pathCheck = nodes.filter((n) => n.path).map((n) => `"${n.path}"`).join("|");
  const tenantPaths = nodes.filter((n) => n.takesTenant).map((n) => `"${n.path}"`).join("|") || '"-"';
  const wordCases = nodes.map((n) => `    "${n.path}") candidates="${shellWords([...n.subcommands.map((s) => s.name), ...n.options, ...(n.path ? globalOptions.filter((o) => o !== "--help" && o !== "-V" && o !== "--version") : [])])}";;`).join("\n");

  // The part both shells share: find the command path, then the candidates.
  // (Not "path": in zsh that is PATH itself.)
  const body = (words: string, count: string, first: string) => `  local cmdpath="" w i candidates="" skip=0 cur="\${${words}[${count}]}" prev=""
  for ((i = ${first}; i < ${count}; i++)); do
    w="\${${words}[i]}"
    prev="$w"
    if ((skip)); then skip=0; continue; fi
    case "$w" in
      ${[...values.keys()].join("|") || "--none"}) skip=1; continue;;
      -*) continue;;
    esac
    case "\${cmdpath:+$cmdpath }$w" in
      ${pathCheck}) cmdpath="\${cmdpath:+$cmdpath }$w";;
    esac
  done
  if ((skip)); then
    case "$prev" in
${valueCases}
    esac
  else
    case "$cmdpath" in
${wordCases}
    esac
    case "$cmdpath" in
      ${tenantPaths}) [[ "$cur" == -* ]] || candidates="$candidates $("\${${words}[${first} - 1]}" __tenants 2>/dev/null)";;
    esac
  fi`;

  if (shell === "bash") {
    return `# bash completion for matih; load it with: source <(matih completion bash)
_matih() {
${body("COMP_WORDS", "COMP_CWORD", "1")}
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -F _matih matih
`;
  }
  return `#compdef matih
# zsh completion for matih; install with: matih completion zsh > "\${fpath[1]}/_matih", or load it now with: source <(matih completion zsh)
_matih() {
  setopt localoptions ksharrays
${body("words", "CURRENT - 1", "1")}
  compadd -- \${=candidates}
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _matih "$@"
else
  compdef _matih matih
fi
`;
}
