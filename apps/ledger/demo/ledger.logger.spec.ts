import { LedgerLogger } from './ledger.logger';

describe('LedgerLogger', () => {
  let written: string[];
  let write: jest.SpyInstance;

  beforeEach(() => {
    written = [];
    write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  });

  afterEach(() => write.mockRestore());

  it("drops Nest's own log-level lines and keeps the ledger's", () => {
    const logger = new LedgerLogger();
    logger.log('Nest microservice successfully started', 'NestMicroservice');
    logger.log('applied 10 commands', 'Ledger ledger-1');

    expect(written).toHaveLength(1);
    expect(written[0]).toContain('[Ledger ledger-1] applied 10 commands');
  });

  it('prints a Flow line once however many nodes give it alike', () => {
    const logger = new LedgerLogger();
    for (let i = 0; i < 3; i++) logger.log('using the embedded in-memory transport', 'Flow');
    logger.log('another notice', 'Flow');

    expect(written.map((line) => line.includes('embedded'))).toEqual([true, false]);
  });

  it('keeps warnings from every context', () => {
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      new LedgerLogger().warn('disk almost full', 'Anything');
      expect(written.concat(err.mock.calls.map(([chunk]) => String(chunk))).join('')).toContain('disk almost full');
    } finally {
      err.mockRestore();
    }
  });
});
