/** The widget's words, in English and Japanese. Amounts go through Intl.NumberFormat. */
export type Lang = 'en' | 'ja';

const en = {
  loading: 'Loading…',
  payTitle: 'Pay with your bank',
  payee: 'Payee',
  amount: 'Amount',
  bankFee: "Bank's fee",
  total: 'Total',
  order: 'Order',
  description: 'Item',
  userId: 'User ID',
  password: 'Password',
  logIn: 'Log in to your bank',
  loggingIn: 'Logging in…',
  loginFailed: 'The user ID or password is wrong.',
  loginLocked: 'Too many failed logins. Try again later.',
  fromAccount: 'Pay from',
  balance: 'balance',
  confirmPay: (amount: string) => `Pay ${amount}`,
  paying: 'Paying…',
  retrying: 'Connection lost. Retrying…',
  paid: 'Paid. The money waits in a temporary account at your bank, locked by you until you release it.',
  invoiceInvalid: 'This invoice could not be verified. Nothing can be paid here.',
  invoiceExpired: 'This invoice has expired. Ask the shop for a new one.',
  invoiceUsed: 'A temporary account was already opened for this invoice: see your bank, or ask the shop.',
  insufficient: 'That account does not hold enough money: choose another, or pay later.',
  ownInvoice: 'This invoice is payable to you: log in as the buyer to pay it.',
  payLaterChoice: 'Pay later: open the deal now, pay the money in at your bank when you are ready',
  noAccountHere:
    'You have no account in this currency at this bank: open the deal now and pay it in by transfer.',
  payLaterButton: 'Open the deal, pay later',
  noAccountHolds: (total: string, withFee: boolean) =>
    `None of your accounts here holds ${total}${withFee ? ", the amount with the bank's fee" : ''}: you can open the deal now and pay later.`,
  payLaterConfirm:
    'Open a temporary account for this order now and pay the amount into it later? Nothing is taken now; the seller ships once the money is in.',
  opening: 'Opening…',
  opened: 'The deal is open and waits for your money. The seller ships once it is paid.',
  payInNext: (due: string, fee: string | null, by: string | null) =>
    `Pay ${due}${fee ? ` and the bank's fee of ${fee}` : ''} into this deal${by ? ` by ${by}` : ''} on`,
  payMissed: 'It was not paid up in time: the deal is off. Take back what you paid in on',
  cancelledBySeller: 'The shop cancelled this order. Take back what you paid in on',
  failed: 'Something went wrong. Nothing was charged twice; please try again.',
  orderTitle: 'Your payment',
  logInToSee: 'Log in to your bank to see and release this payment.',
  status: 'Status',
  inAccount: 'In the temporary account',
  yourLock: 'Your lock',
  sellerLock: 'Seller lock',
  lockOn: 'on',
  lockOff: 'off',
  shipped: 'Shipped',
  notShipped: 'Not shipped yet',
  tracking: (carrier: string, number: string) => `${carrier}, tracking ${number}`,
  deadline: 'Deadline',
  shipBy: (date: string) =>
    `The seller ships by ${date}, or its lock comes off and you can take your money back.`,
  shipMissed: 'The seller missed its shipping deadline: you can take your money back at your bank.',
  decideBy: (date: string) =>
    `Release or report a problem by ${date}. If you do neither, the payment goes to the seller.`,
  memberLocksBy: (date: string) =>
    `You released the payment; a member's lock still holds it, until ${date} at the latest.`,
  disputeFor: (winner: 'buyer' | 'seller') =>
    winner === 'buyer'
      ? 'The bank decided this dispute for you: take your money back at your bank.'
      : 'The bank decided this dispute for the seller.',
  settled: 'Settled',
  cancelledState: 'Cancelled by the shop: what you paid in is yours to take back',
  payMissedState: 'Not paid up in time: what you paid in is yours to take back',
  shipMissedState: 'Not shipped in time: what you paid in is yours to take back',
  awaitingFunds: (due: string | null, fee: string | null) =>
    due
      ? `Awaiting funds: ${due} still to pay at your bank${fee ? `, and the bank's fee of ${fee}` : ''}`
      : 'Awaiting funds',
  funded: 'Funds held at your bank',
  dissolved: 'Completed: the temporary account is closed',
  refunded: 'Closed: your money went back to you',
  refundedFeeKept: (fee: string) =>
    `Closed: your money went back to you, less the bank's fee of ${fee}, which the bank keeps`,
  cancelled: 'Cancelled: closed before it was paid; nothing was taken',
  refundReady: 'The seller released its lock: take your money back at your bank.',
  nextStep: 'Next step',
  release: 'Release payment',
  releaseAfterShipping: 'You can release the payment once the seller has shipped.',
  releaseConfirm:
    'Release the payment to the seller? Do this only once you have received and checked the goods.',
  reportProblem: 'Report a problem',
  reportConfirm: 'Report a problem? Your lock stays on and the seller is told.',
  reason: 'What is wrong? (optional)',
  confirm: 'Confirm',
  cancel: 'Cancel',
  released: 'You released the payment.',
  acceptedByDeadline: 'You gave no verdict by the deadline: the bank released the payment to the seller.',
  rejected: 'You reported a problem. Your lock stays on.',
  notYours: 'This payment is not in your bank account.',
  notYoursLogIn: 'Log in as the customer who paid for this order.',
  live: 'Live',
  offline: 'Not live: reload to see changes',
  confirmInWindow: "Confirm in your bank's window that just opened.",
  showWindow: 'Show that window',
  payConfirm:
    'Pay into a temporary account at your bank? The money stays there, locked by you, until you release it to the seller.',
  payOutcomeUnknown:
    "Your bank's window closed while it was paying. Press Pay again to see whether the payment went through: it is never made twice.",
  openerGone: 'The page that asked for this is gone, so nothing was done. Start again from the shop.',
  payWindowFailed:
    "Your bank's confirmation window could not open here, so nothing was paid. Allow pop-ups for this page, then try again.",
  windowFailed: "Your bank's confirmation window could not open here. Release or report on",
  bankPage: "your bank's page for this payment",
  confirmOnBankPage: 'This window has nothing to confirm. Release or report on',
  confirmWindowTitle: 'Confirm with your bank',
  temporaryAccount: 'Temporary account',
  releasing: 'Releasing…',
  reporting: 'Reporting…',
  windowCloses: 'This window closes by itself.',
  confirmWait: 'Confirm is ready in a moment: look over the details first.',
  confirmAim: 'To confirm, move the pointer onto the button and click it, or Tab to it and press Enter.',
} as const;

export type Dictionary = {
  [K in keyof typeof en]: (typeof en)[K] extends (...args: infer A) => string
    ? (...args: A) => string
    : string;
};

const ja: Dictionary = {
  loading: '読み込み中…',
  payTitle: '銀行で支払う',
  payee: '支払先',
  amount: '金額',
  bankFee: '銀行手数料',
  total: '合計',
  order: '注文',
  description: '商品',
  userId: 'ユーザーID',
  password: 'パスワード',
  logIn: '銀行にログイン',
  loggingIn: 'ログイン中…',
  loginFailed: 'ユーザーIDまたはパスワードが違います。',
  loginLocked: 'ログインの失敗が多すぎます。しばらくしてからお試しください。',
  fromAccount: '支払元口座',
  balance: '残高',
  confirmPay: (amount) => `${amount}を支払う`,
  paying: '支払い中…',
  retrying: '接続が切れました。再試行しています…',
  paid: '支払いました。お金は銀行の一時口座にあり、あなたが解除するまでロックされています。',
  invoiceInvalid: 'この請求書を検証できませんでした。ここでは支払えません。',
  invoiceExpired: 'この請求書は期限切れです。ショップに新しい請求書を依頼してください。',
  invoiceUsed:
    'この請求書にはすでに一時口座が開かれています。銀行でご確認いただくか、ショップにお問い合わせください。',
  insufficient: 'この口座の残高が足りません。別の口座を選ぶか、あとで支払ってください。',
  ownInvoice: 'この請求書の受取人はあなたです。購入者としてログインしてお支払いください。',
  payLaterChoice: 'あとで支払う：取引を今開き、準備ができたら銀行で入金する',
  noAccountHere: 'この銀行にこの通貨の口座がありません。取引を今開き、振込で入金してください。',
  payLaterButton: '取引を開いて、あとで支払う',
  noAccountHolds: (total, withFee) =>
    `${total}${withFee ? '（金額と銀行手数料）' : ''}を保有する口座がありません。取引を今開いて、後で入金できます。`,
  payLaterConfirm:
    'この注文の一時口座を今開き、代金はあとで入金しますか？今は何も引き落とされません。入金が済むと販売者が発送します。',
  opening: '開いています…',
  opened: '取引を開きました。入金をお待ちしています。入金が済むと販売者が発送します。',
  payInNext: (due, fee, by) =>
    `${by ? `${by}までに` : ''}${due}${fee ? `と銀行手数料${fee}` : ''}をこの取引に入金してください。入金は`,
  payMissed: '期限までに入金がなかったため、取引は取り消されました。入金した分の払い戻しは',
  cancelledBySeller: 'ショップがこの注文をキャンセルしました。入金した分の払い戻しは',
  failed: '問題が発生しました。二重に請求されることはありません。もう一度お試しください。',
  orderTitle: 'お支払い',
  logInToSee: 'この支払いを確認・解除するには銀行にログインしてください。',
  status: '状態',
  inAccount: '一時口座の残高',
  yourLock: 'あなたのロック',
  sellerLock: '販売者のロック',
  lockOn: 'オン',
  lockOff: 'オフ',
  shipped: '発送済み',
  notShipped: '未発送',
  tracking: (carrier, number) => `${carrier}、追跡番号 ${number}`,
  deadline: '期限',
  shipBy: (date) =>
    `販売者は${date}までに発送します。発送がなければ販売者のロックが外れ、返金を受けられます。`,
  shipMissed: '販売者は発送期限を過ぎました。銀行で返金を受けられます。',
  decideBy: (date) =>
    `${date}までに支払いを解除するか問題を報告してください。どちらもない場合、支払いは販売者に渡ります。`,
  memberLocksBy: (date) =>
    `支払いを解除しました。メンバーのロックが、遅くとも${date}まで支払いを保留します。`,
  disputeFor: (winner) =>
    winner === 'buyer'
      ? '銀行はこの紛争をあなたの側で解決しました。銀行で返金を受けてください。'
      : '銀行はこの紛争を販売者の側で解決しました。',
  settled: '決済',
  cancelledState: 'ショップによるキャンセル：入金した分はお客様が払い戻せます',
  payMissedState: '入金期限切れ：入金した分はお客様が払い戻せます',
  shipMissedState: '発送期限切れ：入金した分はお客様が払い戻せます',
  awaitingFunds: (due: string | null, fee: string | null) =>
    due ? `入金待ち（あと${due}${fee ? `と銀行手数料${fee}` : ''}を銀行でお支払いください）` : '入金待ち',
  funded: '銀行で保管中',
  dissolved: '完了：一時口座は閉じられました',
  refunded: '終了：お金はあなたに戻りました',
  refundedFeeKept: (fee: string) => `終了：お金はあなたに戻りました（銀行手数料${fee}は返金されません）`,
  cancelled: 'キャンセル：支払い前に閉じられました。引き落としはありません',
  refundReady: '販売者がロックを解除しました。銀行でお金を取り戻してください。',
  nextStep: '次の手順',
  release: '支払いを解除',
  releaseAfterShipping: '販売者が発送した後に支払いを解除できます。',
  releaseConfirm: '販売者への支払いを解除しますか？商品を受け取り確認してから行ってください。',
  reportProblem: '問題を報告',
  reportConfirm: '問題を報告しますか？あなたのロックはそのままで、販売者に通知されます。',
  reason: '問題の内容（任意）',
  confirm: '確定',
  cancel: 'キャンセル',
  released: '支払いを解除しました。',
  acceptedByDeadline: '期限までに評価がなかったため、銀行が販売者への支払いを解除しました。',
  rejected: '問題を報告しました。ロックはそのままです。',
  notYours: 'この支払いはあなたの口座にありません。',
  notYoursLogIn: 'この注文を支払ったお客様としてログインしてください。',
  live: 'ライブ',
  offline: 'ライブ更新停止：再読み込みしてください',
  confirmInWindow: '開いた銀行のウィンドウで確定してください。',
  showWindow: 'そのウィンドウを表示',
  payConfirm:
    '銀行の一時口座に支払いますか？お金はあなたが販売者に解除するまで、あなたのロックでそこに保管されます。',
  payOutcomeUnknown:
    '支払い中に銀行のウィンドウが閉じられました。支払いが完了したか確認するには、もう一度「支払う」を押してください。二重に支払われることはありません。',
  openerGone: '依頼元のページがなくなったため、何も行われていません。ショップからやり直してください。',
  payWindowFailed:
    '銀行の確認ウィンドウをここで開けなかったため、支払いは行われていません。このページのポップアップを許可して、もう一度お試しください。',
  windowFailed: '銀行の確認ウィンドウをここで開けませんでした。解除や報告は',
  bankPage: 'この支払いの銀行ページで行ってください',
  confirmOnBankPage: 'このウィンドウで確定するものはありません。解除や報告は',
  confirmWindowTitle: '銀行で確認',
  temporaryAccount: '一時口座',
  releasing: '解除中…',
  reporting: '報告中…',
  windowCloses: 'このウィンドウは自動的に閉じます。',
  confirmWait: 'まもなく確定できます。先に内容をご確認ください。',
  confirmAim:
    '確定するには、ポインターをボタンに合わせてクリックするか、Tab キーでボタンに移動して Enter キーを押してください。',
};

export const dictionaries: Record<Lang, Dictionary> = { en, ja };

/** What a failed payment tells the buyer, by error code. */
export function payFailureText(t: Dictionary, code: string): string {
  if (code === 'insufficient_funds') return t.insufficient;
  if (code === 'invoice_already_used') return t.invoiceUsed;
  if (code === 'invoice_expired') return t.invoiceExpired;
  // The payee's own login: no retry can pay it (it said "please try again": helper-89).
  if (code === 'invalid_parties') return t.ownInvoice;
  return t.failed;
}

export function pickLang(value: string | null | undefined): Lang {
  const tag = (value ?? '').toLowerCase();
  return tag.startsWith('ja') ? 'ja' : 'en';
}

/** A deadline as the buyer reads it: date and time in the page's language and time zone. */
export function formatDate(iso: string, lang: Lang): string {
  return new Intl.DateTimeFormat(lang === 'ja' ? 'ja-JP' : 'en-US', {
    dateStyle: 'medium',
    timeStyle: 'short',
  }).format(new Date(iso));
}

/** Formats minor units with the currency's own exponent (JPY 0, USD 2, KWD 3). */
export function formatAmount(amountMinor: number, currency: string, lang: Lang): string {
  const format = new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-US', { style: 'currency', currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 0;
  return format.format(amountMinor / 10 ** digits);
}
