/** What an account id looks like: `acc-` and decimal digits. */
export const ACCOUNT_ID_PATTERN = /^acc-[0-9]+$/;
