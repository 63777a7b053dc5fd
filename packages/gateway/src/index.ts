/**
 * @lockstep/gateway — the bank side: HTTP API, signed invoices, ledger and stores.
 */
export { type GatewayConfig, loadConfig } from './config.ts';
export { createGateway, type Gateway, type GatewayOptions } from './gateway.ts';
export type {
  AggregationView,
  CreateInvoiceInput,
  CreateTemporaryAccountInput,
  ErrorResponseBody,
  EventType,
  EventView,
  FundsCheckView,
  InvoiceView,
  TemporaryAccountView,
  WebhookEndpointView,
} from './http/schemas.ts';
export { startGateway, stopGateway } from './main.ts';
export { type DemoSeed, demoLogins, seedDemo } from './seed.ts';
export { Admin, type Reconciliation, reconcile } from './service/admin.ts';
export { openStore } from './storage/open.ts';
export type { Store } from './storage/store.ts';
