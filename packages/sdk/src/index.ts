export {
  type SignedRequest,
  type SignRequestOptions,
  signRequest,
} from "@sigilum-gw/shared/http-signatures";
export {
  IdentityError,
  type InitIdentityResult,
  type SigilumIdentity,
} from "@sigilum-gw/shared/identity";
export {
  type CreateClientOptions,
  clientForIdentity,
  createSigilumClient,
  type SigilumClient,
  type SigilumFetchInit,
  type SignableBody,
  type SignInput,
} from "./client.ts";
export { initIdentity, listNamespaces, loadIdentity, resolveSigilumHome } from "./environment.ts";
