/**
 * Sends the outbox's mail rows: over SMTP with nodemailer when SMTP settings
 * are given, otherwise (the embedded default) as `.eml` files under
 * `<dataDir>/mail/`, named by the outbox id and logged with their path.
 *
 * The Message-ID is derived from the outbox id (`<id@domain>`) and the Date
 * header is the row's creation time, so a mail sent again after a crash is
 * recognisably the same message; a file is simply written again.
 */
import { rename, writeFile } from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import { renderMail } from "./mail-templates.ts";
import type { OutboxRow } from "../db/outbox.ts";
import { privateDir } from "../../automation/index.ts";

/** The SMTP server notifications go through. */
export interface SmtpConfig {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (smtps, usually port 465); otherwise STARTTLS when the server offers it. */
  readonly secure: boolean;
  readonly user: string | null;
  readonly password: string | null;
}

export interface MailerLog {
  info(obj: object, msg: string): void;
}

export interface MailerOptions {
  /** null: write .eml files under `<dataDir>/mail`. */
  smtp: SmtpConfig | null;
  from: string;
  dataDir: string;
  log: MailerLog;
  /** SMTP connect/greeting timeout; default 10 s. */
  timeoutMs?: number;
}

export interface SentMail {
  readonly messageId: string;
  /** The .eml file, without SMTP settings. */
  readonly file: string | null;
}

type Transport = ReturnType<typeof nodemailer.createTransport>;

/** The domain of the From address, for Message-IDs. */
function domainOf(from: string): string {
  const match = /@([^\s@<>]+)>?\s*$/.exec(from);
  return match ? match[1]! : "matih.ai";
}

export class Mailer {
  readonly mailDir: string;
  private readonly smtp: SmtpConfig | null;
  private readonly from: string;
  private readonly domain: string;
  private readonly log: MailerLog;
  private readonly transport: Transport;

  constructor(options: MailerOptions) {
    this.smtp = options.smtp;
    this.from = options.from;
    this.domain = domainOf(options.from);
    this.log = options.log;
    this.mailDir = path.join(options.dataDir, "mail");
    const timeout = options.timeoutMs ?? 10_000;
    this.transport = options.smtp
      ? nodemailer.createTransport({
          host: options.smtp.host,
          port: options.smtp.port,
          secure: options.smtp.secure,
          ...(options.smtp.user ? { auth: { user: options.smtp.user, pass: options.smtp.password ?? "" } } : {}),
          connectionTimeout: timeout,
          greetingTimeout: timeout,
          socketTimeout: 3 * timeout,
        })
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "windows" });
  }

  /**
   * Where mails go, for readiness and logs; never includes credentials. The
   * folder's absolute path is for the log only (`withPath`): /readyz is
   * public and must not reveal the machine's layout.
   */
  describe(options: { withPath?: boolean } = {}): string {
    return this.smtp
      ? `SMTP ${this.smtp.secure ? "smtps" : "smtp"}://${this.smtp.host}:${this.smtp.port}${this.smtp.user ? " with authentication" : ""}`
      : `no SMTP settings: mails are written to ${options.withPath ? this.mailDir : "the mail folder of the data directory"}`;
  }

  messageIdOf(row: Pick<OutboxRow, "id">): string {
    return `<${row.id}@${this.domain}>`;
  }

  /** Sends one mail row; resolves once the SMTP server accepted it (or the file is written). */
  async send(row: OutboxRow): Promise<SentMail> {
    const mail = renderMail(row);
    const messageId = this.messageIdOf(row);
    const info = await this.transport.sendMail({
      from: this.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      messageId,
      date: row.createdAt,
      headers: {
        "X-Matih-Outbox-Id": row.id,
        "X-Matih-Template": row.type,
        ...(row.tenantId ? { "X-Matih-Tenant-Id": row.tenantId } : {}),
      },
    });
    const fields = { outboxId: row.id, template: row.type, tenantId: row.tenantId, messageId };
    if (this.smtp) {
      const rejected = (info as { rejected?: unknown[] }).rejected ?? [];
      if (rejected.length > 0) throw new Error(`the SMTP server rejected the recipient of the ${row.type} mail`);
      this.log.info({ ...fields, smtp: `${this.smtp.host}:${this.smtp.port}` }, `sent the ${row.type} mail`);
      return { messageId, file: null };
    }
    const file = path.join(this.mailDir, `${row.id}.eml`);
    // Mails carry e-mail addresses: the folder is this user's alone.
    await privateDir(this.mailDir);
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, (info as { message: Buffer }).message, { mode: 0o600 });
    await rename(tmp, file);
    this.log.info({ ...fields, file }, `no SMTP settings: wrote the ${row.type} mail to a file`);
    return { messageId, file };
  }

  close(): void {
    this.transport.close();
  }
}
