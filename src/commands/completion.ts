import type { Command, Option } from 'commander';
import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';

export interface CompletionResult {
  shell: 'bash' | 'zsh';
  script: string;
}

const flags = (options: readonly Option[]) => options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));
/** Flags whose next word is their value, not a command or a REF. */
const valued = (options: readonly Option[]) => options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));

/**
 * A bash completion script made from the command tree itself (so it cannot fall behind the
 * commands): subcommands, then each one's flags; other words complete as file names. zsh runs the
 * same script through its bashcompinit, as many tools do.
 */
function bashScript(program: Command): string {
  const commands = program.commands.map((c) => c.name());
  const global = flags(program.options);
  const cases = program.commands.map((c) => `    ${c.name()}) opts=${JSON.stringify([...flags(c.options), '--help'].join(' '))} ;;`).join('\n');
  const skip = [...valued(program.options), ...program.commands.flatMap((c) => valued(c.options))];
  return `# snapgov completion for bash (made by: snapgov completion bash)
_snapgov() {
  # \${a[@]:i:1} rather than \${a[i]}: 0-based in bash and in zsh, whose arrays otherwise start at 1
  local cur=\${COMP_WORDS[@]:$COMP_CWORD:1} cmd="" opts="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[@]:$i:1} in
      ${[...new Set(skip)].join('|')}) ((i++)) ;;
      -*) ;;
      *) cmd=\${COMP_WORDS[@]:$i:1}; break ;;
    esac
  done
  case $cmd in
    "") opts=${JSON.stringify([...commands, ...global, '--help'].join(' '))} ;;
${cases}
  esac
  if [[ -z $cmd || $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _snapgov snapgov
`;
}

export function completion(shell: string | undefined, program: Command, _g: GlobalOptions): Outcome<CompletionResult> {
  if (shell !== 'bash' && shell !== 'zsh') throw new SnapgovError('USAGE', `no completion for ${JSON.stringify(shell ?? '')}`, 'snapgov completion bash, or snapgov completion zsh');
  const bash = bashScript(program);
  const script = shell === 'bash' ? bash : `#compdef snapgov\nautoload -U +X bashcompinit && bashcompinit\n${bash}`;
  return outcome<CompletionResult>({ shell, script }, (r) => r.script);
}
