/**
 * Reads one line without echoing it on a terminal (a secret key asked for at the prompt), or the
 * first line of standard input when it is not a terminal (`echo $KEY | payfold config set`).
 */
export const readSecret = (question: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const input = process.stdin;
    let typed = '';
    const finish = (error?: Error) => {
      input.off('data', onData);
      input.off('end', onEnd);
      if (input.isTTY) input.setRawMode(false);
      input.pause();
      if (error) reject(error);
      else resolve(typed.trim());
    };
    const onData = (chunk: Buffer) => {
      for (const character of chunk.toString('utf8')) {
        if (character === '\u0003') return finish(new Error('cancelled'));
        if (character === '\r' || character === '\n') {
          if (input.isTTY) process.stderr.write('\n');
          return finish();
        }
        if (character === '\u007f' || character === '\b') typed = typed.slice(0, -1);
        else typed += character;
      }
    };
    const onEnd = () => finish();
    if (input.isTTY) {
      process.stderr.write(question);
      input.setRawMode(true);
    }
    input.on('data', onData);
    input.on('end', onEnd);
    input.resume();
  });
