import { createRequire } from 'node:module';
import { isatty } from 'node:tty';

/**
 * Whether a person can be asked: stdin is a terminal and the output is not for a program (--json).
 * stderr is not required to be one: a rollback with its messages redirected must still ask. isatty
 * rather than process.stdin.isTTY: the stdin stream is built on first access (some 2.5 ms).
 */
export function canAsk(json: boolean | undefined): boolean {
  return !json && isatty(0);
}

/** A yes/no question on stderr; only y or yes is yes. */
export async function confirm(text: string): Promise<boolean> {
  // Loaded only to ask (a require: the bundle's chunks run as scripts, which cannot import).
  const { createInterface } = createRequire(import.meta.url)('node:readline/promises') as typeof import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${text} Proceed? [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Reads a secret from the terminal without echoing it, as gpg and cosign do. Ctrl-C interrupts
 * (raw mode turns it into a character, so it is raised again as the signal); Ctrl-D ends the input.
 */
export async function askSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  // Echo off before the question shows, so an answer typed at once is never echoed.
  stdin.setRawMode(true);
  process.stderr.write(question);
  stdin.resume();
  return new Promise((resolve) => {
    let answer = '';
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          resolve(answer);
          return;
        }
        if (ch === '\u0003') {
          done();
          process.kill(process.pid, 'SIGINT');
          return;
        }
        if (ch === '\u007f' || ch === '\b') answer = [...answer].slice(0, -1).join('');
        else answer += ch;
      }
    };
    stdin.on('data', onData);
  });
}
