import { textTable } from './text-table';

describe('textTable', () => {
  it('pads the first column to the left and the others to the right, two spaces apart', () => {
    expect(
      textTable(
        ['node', 'applied'],
        [
          ['ledger-1', 7],
          ['total', 12345],
        ],
      ),
    ).toEqual(['node      applied', 'ledger-1        7', 'total       12345']);
  });

  it('leaves no trailing spaces after a short first column in a row without figures', () => {
    expect(textTable(['name', 'n'], [['a', '']])).toEqual(['name  n', 'a']);
  });
});
