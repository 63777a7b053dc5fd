import type { Admin } from './service/admin.ts';

/**
 * The demo bank: a buyer (Mizuta, as in [0033]) and a merchant shop with usual accounts in JPY.
 * A second seed on the same store reuses the customers, accounts and merchant (no second top-up;
 * the shop's name and origins are set to the ones given) and issues the shop a fresh key pair,
 * revoking the one before: keys are stored hashed, so the first pair's secret cannot be shown
 * again.
 */
export const demoLogins = {
  buyer: { userId: 'mizuta', password: 'mizuta-demo-pass', displayName: 'Mizuta' },
  buyer2: { userId: 'tanaka', password: 'tanaka-demo-pass', displayName: 'Tanaka' },
  seller: { userId: 'ibm-shop', password: 'ibm-demo-pass', displayName: 'IBM Shop' },
} as const;

export interface DemoSeed {
  buyerId: string;
  buyerAccountId: string;
  buyer2Id: string;
  sellerId: string;
  sellerAccountId: string;
  secretKey: string;
  publishableKey: string;
}

export async function seedDemo(
  admin: Admin,
  options: { allowedOrigins: string[]; buyerBalanceMinor?: number },
): Promise<DemoSeed> {
  const buyer = await customer(admin, demoLogins.buyer);
  const buyerAccount = await usualAccount(
    admin,
    buyer.id,
    'Ordinary deposit',
    options.buyerBalanceMinor ?? 100_000,
  );
  const buyer2 = await customer(admin, demoLogins.buyer2);
  await usualAccount(admin, buyer2.id, 'Ordinary deposit', 50_000);
  const seller = await customer(admin, demoLogins.seller);
  const sellerAccount = await usualAccount(admin, seller.id, 'Business account', 0);
  const keys = await merchantKeys(admin, seller.id, {
    name: 'IBM Shop',
    allowedOrigins: options.allowedOrigins,
  });
  return {
    buyerId: buyer.id,
    buyerAccountId: buyerAccount.id,
    buyer2Id: buyer2.id,
    sellerId: seller.id,
    sellerAccountId: sellerAccount.id,
    secretKey: keys.secretKey,
    publishableKey: keys.publishableKey,
  };
}

async function customer(admin: Admin, login: { userId: string; password: string; displayName: string }) {
  return (await admin.findCustomer(login.userId)) ?? admin.createCustomer(login);
}

/** The customer's JPY account of that name; a new one gets its opening balance, once. */
async function usualAccount(admin: Admin, ownerId: string, name: string, openingMinor: number) {
  const existing = (await admin.listUsualAccounts(ownerId)).find(
    (account) => account.currency === 'JPY' && account.name === name,
  );
  if (existing) return existing;
  const account = await admin.createUsualAccount(ownerId, 'JPY', name);
  if (openingMinor > 0) await admin.topUp(account.id, openingMinor);
  return account;
}

/**
 * The operator's `merchant:create` refuses an existing merchant; the seed, run again, updates
 * the demo shop instead and issues a key pair whose secret it can print.
 */
async function merchantKeys(
  admin: Admin,
  customerId: string,
  input: { name: string; allowedOrigins: string[] },
) {
  if (!(await admin.getMerchant(customerId))) return admin.createMerchant(customerId, input);
  await admin.updateMerchant(customerId, input);
  // The pair printed before stops working: a restart does not pile up live keys, each printed
  // to the log once (helper-55's review).
  for (const key of await admin.listApiKeys(customerId)) {
    if (key.revokedAt === null) await admin.revokeApiKey(customerId, key.id);
  }
  const secret = await admin.createApiKey(customerId, 'secret');
  const publishable = await admin.createApiKey(customerId, 'publishable');
  return { secretKey: secret.key, publishableKey: publishable.key };
}
