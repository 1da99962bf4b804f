// Shell completion scripts, generated from a tree of the CLI's words (built from the command table
// by commands.ts), so a new verb or flag completes without anyone editing a script.
//
// The script is the same in both shells except for its driver: a few data functions answer "which
// words, flags and values at this command path" with `case` tables (valid bash and zsh alike, and
// bash 3.2 of macOS has no associative arrays), and the driver walks the words before the cursor:
// a known subcommand extends the path, a value flag swallows the next word, `--` ends the flags.
//
// Folklore:
// - bash splits `--output=js` into `--output`, `=`, `js` (COMP_WORDBREAKS contains "="); right after
//   the "=" the word under the cursor is "=" itself and readline replaces only what follows it.
// - `complete -o default` hands an empty answer back to readline's file name completion, which is
//   what file arguments (`create machine.yaml`, `files upload`) and free values (`--ca-file`) want.
// - zsh: `path` is tied to $PATH and must not be a local; a word starting with "=" is expanded to a
//   command's path unless quoted.

import type { VerbFlag } from "./verb-spec.ts";

export const SHELLS = ["bash", "zsh"] as const;
export type Shell = (typeof SHELLS)[number];

export const isShell = (s: string): s is Shell => (SHELLS as readonly string[]).includes(s);

export interface CompletionNode {
  /** Subcommands by word. */
  children: ReadonlyMap<string, CompletionNode>;
  /** Flags accepted at this point. */
  flags: readonly VerbFlag[];
  /** Values of the first positional argument (`completion bash|zsh`). */
  choices: readonly string[];
}

export function completionScript(shell: Shell, root: CompletionNode): string {
  const data = dataFunctions(root);
  return shell === "bash" ? bashScript(data) : zshScript(data);
}

/** Every node with its path, parents first: "" is the top, "machines list" a verb. */
function nodes(root: CompletionNode): [string, CompletionNode][] {
  const out: [string, CompletionNode][] = [];
  const visit = (path: string, n: CompletionNode) => {
    out.push([path, n]);
    for (const [w, child] of n.children) visit(path === "" ? w : `${path} ${w}`, child);
  };
  visit("", root);
  return out;
}

const spellings = (f: VerbFlag) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])];

/** Words go into single quotes unescaped: refuse anything that would need escaping. */
function word(w: string): string {
  if (!/^-{0,2}[A-Za-z0-9][A-Za-z0-9._-]*$/.test(w)) throw new Error(`completion: cannot put "${w}" into a shell script`);
  return w;
}

/**
 * A function `name KEY` that echoes the words of KEY. Keys with the same answer share a branch.
 * With `byPath`, the keys are command paths, which the walk only ever builds from known words, so
 * the answer most paths have can be the `*)` branch.
 */
function caseFunction(name: string, doc: string, entries: readonly [string, readonly string[]][], byPath = true): string {
  const byAnswer = new Map<string, string[]>();
  for (const [key, words] of entries) {
    const answer = words.map(word).join(" ");
    byAnswer.set(answer, [...(byAnswer.get(answer) ?? []), key]);
  }
  let common = "";
  if (byPath) for (const [answer, keys] of byAnswer) if (keys.length > (byAnswer.get(common)?.length ?? 0)) common = answer;
  const branch = (answer: string, labels: string) => `    ${labels}) ${answer === "" ? "" : `echo '${answer}' `};;`;
  const branches = [...byAnswer]
    .filter(([answer]) => answer !== common)
    .map(([answer, keys]) => branch(answer, keys.map((k) => `'${k}'`).join("|")));
  if (common !== "") branches.push(branch(common, "*"));
  return [`# ${doc}`, `${name}() {`, "  case $1 in", ...branches, "  esac", "}"].join("\n");
}

function dataFunctions(root: CompletionNode): string {
  const all = nodes(root);
  for (const [path] of all) for (const w of path.split(" ").filter((x) => x !== "")) word(w);
  // A flag's values do not depend on where it is given; two different lists would be a bug here.
  const choices = new Map<string, readonly string[]>();
  for (const [path, n] of all) {
    for (const f of n.flags) {
      for (const s of spellings(f)) {
        const seen = choices.get(s);
        const mine = f.choices ?? [];
        if (seen !== undefined && seen.join(" ") !== mine.join(" ")) {
          throw new Error(`completion: flag ${s} has values "${seen.join("|")}" and, at "${path}", "${mine.join("|")}"`);
        }
        choices.set(s, mine);
      }
    }
  }
  return [
    caseFunction("_socle_words", "Subcommands at a command path.", all.map(([p, n]) => [p, [...n.children.keys()]])),
    caseFunction("_socle_flags", "Flags accepted at a command path.", all.map(([p, n]) => [p, n.flags.flatMap(spellings)])),
    caseFunction(
      "_socle_value_flags",
      "The flags at a command path that take a value (the next word).",
      all.map(([p, n]) => [p, n.flags.filter((f) => f.kind === "value").flatMap(spellings)]),
    ),
    caseFunction("_socle_flag_choices", "The values a flag accepts.", [...choices], false),
    caseFunction("_socle_arg_choices", "The values of the first argument at a command path.", all.map(([p, n]) => [p, n.choices])),
  ].join("\n\n");
}

/**
 * The walk over the words before the cursor, shared by both drivers: `at(i)` is the shell
 * expression of word i, `first` the index of the first argument after `socle`. Sets cmd (the
 * command path), n (positionals after it), skip (the last word was a value flag) and ended (`--`
 * seen); returns 1 for an unknown command.
 */
function walk(at: (i: string) => string, first: number, cursor: string): string {
  return `  local cmd= w i n=0 skip=0 ended=0
  for ((i = ${first}; i < ${cursor}; i++)); do
    w=${at("i")}
    if ((skip)); then skip=0; continue; fi
    if ((!ended)); then
      if [[ $w == '=' ]]; then skip=1; continue; fi
      case $w in
        --) ended=1; continue ;;
        -) ;;
        -*=*) continue ;;
        -*)
          if [[ " $(_socle_value_flags "$cmd") " == *" $w "* && ${at("i+1")} != '=' ]]; then skip=1; fi
          continue ;;
      esac
    fi
    if [[ " $(_socle_words "$cmd") " == *" $w "* ]]; then cmd=\${cmd:+$cmd }$w
    elif [[ -n $(_socle_words "$cmd") ]]; then return 1
    else n=$((n + 1)); fi
  done`;
}

const HEADER = (shell: Shell) =>
  `# ${shell} completion for socle, generated by \`socle completion ${shell}\` from the CLI's command table.`;

function bashScript(data: string): string {
  return `${HEADER("bash")}
# Load it with: source <(socle completion bash)   (or save it in ~/.local/share/bash-completion/completions/socle)

${data}

_socle() {
  COMPREPLY=()
  local cur=\${COMP_WORDS[COMP_CWORD]-} prev= flag= list
  ((COMP_CWORD > 0)) && prev=\${COMP_WORDS[COMP_CWORD-1]-}
${walk((i) => `\${COMP_WORDS[${i}]-}`, 1, "COMP_CWORD")}
  if [[ $cur == '=' ]]; then flag=$prev; cur=
  elif [[ $prev == '=' ]] && ((COMP_CWORD >= 2)); then flag=\${COMP_WORDS[COMP_CWORD-2]-}
  elif ((skip)); then flag=$prev
  fi
  if [[ -n $flag ]]; then list=$(_socle_flag_choices "$flag")
  elif ((!ended)) && [[ $cur == -* ]]; then list=$(_socle_flags "$cmd")
  else
    list=$(_socle_words "$cmd")
    [[ -z $list ]] && ((n == 0)) && list=$(_socle_arg_choices "$cmd")
  fi
  [[ -n $list ]] && COMPREPLY=($(compgen -W "$list" -- "$cur"))
  return 0
}

complete -o default -F _socle socle`;
}

function zshScript(data: string): string {
  return `#compdef socle
${HEADER("zsh")}
# Load it with: source <(socle completion zsh)   (after compinit), or save it as _socle in a $fpath directory.

${data}

_socle() {
  local cur=\${words[CURRENT]} prev=\${words[CURRENT-1]} flag= list
${walk((i) => `\${words[${i}]}`, 2, "CURRENT")}
  if ((skip)); then flag=$prev
  elif ((!ended)) && [[ $cur == --*=* ]]; then flag=\${cur%%=*}; compset -P '*='
  fi
  if [[ -n $flag ]]; then list=$(_socle_flag_choices "$flag")
  elif ((!ended)) && [[ $cur == -* ]]; then list=$(_socle_flags "$cmd")
  else
    list=$(_socle_words "$cmd")
    [[ -z $list ]] && ((n == 0)) && list=$(_socle_arg_choices "$cmd")
  fi
  if [[ -n $list ]]; then compadd -- \${=list}; else _files; fi
}

if [[ \${funcstack[1]-} == _socle ]]; then _socle "$@"; else compdef _socle socle; fi`;
}
