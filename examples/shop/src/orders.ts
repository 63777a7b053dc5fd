import { DatabaseSync } from 'node:sqlite';

/**
 * The shop's own small order book. A real shop has its own database; this one keeps orders in
 * a SQLite file so a restart of the demo keeps them. It knows nothing of Lockstep's ledger: the
 * shop learns about money only through the SDK and verified webhooks.
 */
export type OrderStatus =
  | 'awaiting_payment'
  | 'paid'
  | 'awaiting_funds'
  | 'funded'
  | 'shipped'
  | 'released'
  | 'completed'
  | 'disputed'
  /** We released our lock on a dispute: the buyer takes the money back at the bank. */
  | 'refunding'
  | 'refunded'
  /** The buyer opened the deal to pay later and never paid: we closed the empty account. */
  | 'cancelled'
  | 'withdraw_failed';

/** What the buyer reads for each status (the code stays in `data-status` for scripts and tests). */
export const statusText: Record<OrderStatus, string> = {
  awaiting_payment: 'Waiting for your payment',
  paid: 'Paid: the shop is checking the payment',
  awaiting_funds: 'Waiting for your pay-in at the bank',
  funded: 'Paid: being packed',
  shipped: 'Shipped',
  released: 'Received: payment released to the shop',
  completed: 'Completed',
  disputed: 'Problem reported: the shop is looking into it',
  refunding: 'Being refunded: take your money back at your bank',
  refunded: 'Refunded',
  cancelled: 'Cancelled',
  withdraw_failed: 'Received: payment released to the shop',
};

export interface Order {
  id: string;
  itemId: string;
  title: string;
  amountMinor: number;
  currency: string;
  status: OrderStatus;
  invoiceId: string;
  invoiceToken: string;
  accountCode: string | null;
  carrier: string | null;
  trackingNumber: string | null;
  createdAt: string;
  updatedAt: string;
}

interface OrderRow {
  id: string;
  item_id: string;
  title: string;
  amount_minor: number;
  currency: string;
  status: OrderStatus;
  invoice_id: string;
  invoice_token: string;
  account_code: string | null;
  carrier: string | null;
  tracking_number: string | null;
  created_at: string;
  updated_at: string;
}

export class OrderBook {
  private readonly db: DatabaseSync;

  constructor(path: string) {
    this.db = new DatabaseSync(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE IF NOT EXISTS orders (
        id TEXT PRIMARY KEY, item_id TEXT NOT NULL, title TEXT NOT NULL,
        amount_minor INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
        invoice_id TEXT NOT NULL UNIQUE, invoice_token TEXT NOT NULL, account_code TEXT UNIQUE,
        carrier TEXT, tracking_number TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE IF NOT EXISTS processed_events (
        event_id TEXT PRIMARY KEY, processed_at TEXT NOT NULL
      ) STRICT;
    `);
  }

  insert(order: Omit<Order, 'createdAt' | 'updatedAt'>): Order {
    const now = new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO orders (id, item_id, title, amount_minor, currency, status, invoice_id,
           invoice_token, account_code, carrier, tracking_number, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        order.id,
        order.itemId,
        order.title,
        order.amountMinor,
        order.currency,
        order.status,
        order.invoiceId,
        order.invoiceToken,
        order.accountCode,
        order.carrier,
        order.trackingNumber,
        now,
        now,
      );
    return { ...order, createdAt: now, updatedAt: now };
  }

  get(id: string): Order | null {
    const row = this.db.prepare('SELECT * FROM orders WHERE id = ?').get(id) as OrderRow | undefined;
    return row ? toOrder(row) : null;
  }

  byInvoice(invoiceId: string): Order | null {
    const row = this.db.prepare('SELECT * FROM orders WHERE invoice_id = ?').get(invoiceId) as
      | OrderRow
      | undefined;
    return row ? toOrder(row) : null;
  }

  byAccount(code: string): Order | null {
    const row = this.db.prepare('SELECT * FROM orders WHERE account_code = ?').get(code) as
      | OrderRow
      | undefined;
    return row ? toOrder(row) : null;
  }

  list(): Order[] {
    const rows = this.db
      .prepare('SELECT * FROM orders ORDER BY created_at DESC')
      .all() as unknown as OrderRow[];
    return rows.map(toOrder);
  }

  update(
    id: string,
    changes: Partial<Pick<Order, 'status' | 'accountCode' | 'carrier' | 'trackingNumber'>>,
  ): void {
    const current = this.get(id);
    if (!current) return;
    const next = { ...current, ...changes };
    this.db
      .prepare(
        `UPDATE orders SET status = ?, account_code = ?, carrier = ?, tracking_number = ?, updated_at = ?
         WHERE id = ?`,
      )
      .run(next.status, next.accountCode, next.carrier, next.trackingNumber, new Date().toISOString(), id);
  }

  /**
   * Webhook de-duplication: true once `markProcessed` recorded the event id, which the handler
   * calls only after the work succeeded. A delivery that failed or crashed half-way is not
   * recorded, so the gateway's retry does the work again; the work must be safe to run twice.
   */
  wasProcessed(eventId: string): boolean {
    return this.db.prepare('SELECT 1 FROM processed_events WHERE event_id = ?').get(eventId) !== undefined;
  }

  markProcessed(eventId: string): void {
    this.db
      .prepare('INSERT OR IGNORE INTO processed_events (event_id, processed_at) VALUES (?, ?)')
      .run(eventId, new Date().toISOString());
  }

  /**
   * Gives an unpaid order a new invoice in place of `previousId` (expired unused); false if the
   * order has an account meanwhile or another request replaced it first.
   */
  replaceInvoice(id: string, previousId: string, invoiceId: string, invoiceToken: string): boolean {
    const result = this.db
      .prepare(
        `UPDATE orders SET invoice_id = ?, invoice_token = ?, updated_at = ?
         WHERE id = ? AND invoice_id = ? AND account_code IS NULL`,
      )
      .run(invoiceId, invoiceToken, new Date().toISOString(), id, previousId);
    return Number(result.changes) === 1;
  }

  /** Links the temporary account to the order once; false if it already has one. */
  linkAccount(id: string, accountCode: string): boolean {
    const result = this.db
      .prepare('UPDATE orders SET account_code = ?, updated_at = ? WHERE id = ? AND account_code IS NULL')
      .run(accountCode, new Date().toISOString(), id);
    return Number(result.changes) === 1;
  }

  /** Moves the order from one of `from` to `to`; false (and no change) from any other status. */
  transition(id: string, from: OrderStatus[], to: OrderStatus): boolean {
    const result = this.db
      .prepare(
        `UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status IN (${from.map(() => '?').join(', ')})`,
      )
      .run(to, new Date().toISOString(), id, ...from);
    return Number(result.changes) === 1;
  }

  close(): void {
    this.db.close();
  }
}

function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    itemId: row.item_id,
    title: row.title,
    amountMinor: row.amount_minor,
    currency: row.currency,
    status: row.status,
    invoiceId: row.invoice_id,
    invoiceToken: row.invoice_token,
    accountCode: row.account_code,
    carrier: row.carrier,
    trackingNumber: row.tracking_number,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
