import * as store from "@sigilum-gw/shared/identity";

/**
 * The agent's environment defaults, read here because the SDK is the agent's entry point (the shared identity
 * store takes both as parameters): the Sigilum home is `homeDir`, else $SIGILUM_HOME, else ~/.sigilum; the
 * namespace is the explicit one, else $SIGILUM_NAMESPACE, else the only identity in the home.
 */
export function resolveSigilumHome(homeDir?: string): string {
  return store.resolveSigilumHome(homeDir ?? (process.env.SIGILUM_HOME || undefined));
}

export function loadIdentity(
  options: Parameters<typeof store.loadIdentity>[0] = {},
): Promise<store.SigilumIdentity> {
  const namespace = options.namespace || process.env.SIGILUM_NAMESPACE || undefined;
  return store.loadIdentity({
    ...options,
    ...(namespace ? { namespace } : {}),
    homeDir: resolveSigilumHome(options.homeDir),
  });
}

export function initIdentity(
  options: Parameters<typeof store.initIdentity>[0],
): Promise<store.InitIdentityResult> {
  return store.initIdentity({ ...options, homeDir: resolveSigilumHome(options.homeDir) });
}

export function listNamespaces(homeDir?: string): Promise<string[]> {
  return store.listNamespaces(resolveSigilumHome(homeDir));
}
