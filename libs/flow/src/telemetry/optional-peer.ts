import { InvalidOptionError } from '../core/errors';

/**
 * Loads an optional peer dependency when the option that needs it is on, so
 * that an app without the package is not affected while the option is off.
 * Throws InvalidOptionError naming the option and the package to install.
 */
export function loadOptionalPeer<T>(name: string, option: string, load: () => unknown): T {
  try {
    return load() as T;
  } catch (error) {
    if (isModuleNotFound(error)) {
      throw new InvalidOptionError(option, `needs the optional peer dependency ${name} (npm install ${name})`, true);
    }
    throw error;
  }
}

function isModuleNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'MODULE_NOT_FOUND';
}
