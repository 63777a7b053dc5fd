import type { Admin } from './service/admin.ts';

/**
 * The demo bank: a buyer (Mizuta, as in [0033]) and a merchant shop with usual accounts in JPY.
 * Keys are created once; a second seed on the same store returns what exists without new keys,
 * except that the printed secret is only known on the first run (keys are stored hashed).
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
  const buyer = await admin.createCustomer(demoLogins.buyer);
  const buyerAccount = await admin.createUsualAccount(buyer.id, 'JPY', 'Ordinary deposit');
  await admin.topUp(buyerAccount.id, options.buyerBalanceMinor ?? 100_000);
  const buyer2 = await admin.createCustomer(demoLogins.buyer2);
  const buyer2Account = await admin.createUsualAccount(buyer2.id, 'JPY', 'Ordinary deposit');
  await admin.topUp(buyer2Account.id, 50_000);
  const seller = await admin.createCustomer(demoLogins.seller);
  const sellerAccount = await admin.createUsualAccount(seller.id, 'JPY', 'Business account');
  const keys = await admin.createMerchant(seller.id, {
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
