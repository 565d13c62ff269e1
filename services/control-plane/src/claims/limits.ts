export interface ClaimLimits {
  maxApprovedAgentsPerService: number;
  maxConnectedServicesPerNamespace: number;
  maxPendingAuthorizations: number;
  claimNonceTtlSeconds: number;
}
