import { join } from 'node:path';
import { AdminClient } from '../admin-client.ts';
import { type Command, type CommandSpec, parseCommandArgs, renderUsage } from '../command.ts';
import { DEFAULTS } from '../defaults.ts';
import { UsageError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { renderMailList, renderMailMessage } from '../render-mail.ts';
import { displayPath, FILE_FLAG, stateDirFor } from '../spec-file.ts';

const spec = {
  name: 'mail',
  summary: 'list the mail the services sent, or show one message',
  optionalPositionals: ['id'],
  description: [
    "Without an id: the messages the control plane's SMTP sink received, newest first, with when they",
    'arrived, to whom, the subject and the id; "(x2)" marks one that arrived twice with the same',
    'Message-ID (kept once). With an id: that message, its headers and its plain-text body.',
    '',
    'Services send mail to FLOTILLA_SMTP_URL. Unless the spec sets infrastructure.smtp.url, that is the',
    'built-in sink: it delivers nothing, and keeps the newest 1000 messages in .flotilla/mail/ (one .eml',
    'file each) across restarts. With a relay configured, mail goes there and this command says so.',
    'Exits 1 when the system is not running.',
  ].join('\n'),
  flags: {
    to: {
      type: 'string',
      value: 'address',
      description: 'only messages to this address, in To, Cc or Bcc, in any case',
    },
    limit: {
      type: 'string',
      value: 'N',
      default: String(DEFAULTS.mailLimit),
      description: 'how many of the newest messages to list, 1 to 1000',
    },
    json: {
      type: 'boolean',
      description: 'print what the admin API returns (MailList, or MailMessage with <id>)',
    },
    file: FILE_FLAG,
  },
  examples: ['flotilla mail', 'flotilla mail --to alice@example.com --limit 5', 'flotilla mail 3f9c0a1b2c4d'],
} as const satisfies CommandSpec;

/** `flotilla mail [id]`: GET /v1/mail as a table, or GET /v1/mail/:id as a message. */
export const mail: Command = {
  spec,
  async run(argv) {
    const args = parseCommandArgs(spec, argv);
    if (!args) return EXIT.ok;
    const [id] = args.positionals;
    const { to, limit, json } = args.values;
    if (!/^\d+$/.test(limit)) {
      throw new UsageError(
        `--limit must be a whole number from 1 to 1000, got "${limit}"`,
        renderUsage(spec),
      );
    }
    const stateDir = stateDirFor(args.values.file);
    const client = AdminClient.connect(stateDir);
    if (id !== undefined) {
      const message = await client.mailMessage(id);
      const rawFile = displayPath(join(stateDir, 'mail', `${message.id}.eml`));
      console.log(json ? JSON.stringify(message, null, 2) : renderMailMessage(message, rawFile));
      return EXIT.ok;
    }
    const list = await client.mail({ to, limit: Number(limit) });
    console.log(json ? JSON.stringify(list, null, 2) : renderMailList(list, to));
    return EXIT.ok;
  },
};
