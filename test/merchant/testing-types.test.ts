import type * as Implementation from '@lockstep/merchant/testing';
import { describe, expect, it } from 'vitest';
import type * as Declared from '../../packages/merchant/types/testing.d.ts';

/**
 * The published declarations of `@lockstep/merchant/testing` are hand-written: `pnpm typecheck`
 * fails here when they drift from the implementation (each side must be usable as the other).
 */
type Assignable<From, To> = From extends To ? true : false;
const implementationFitsDeclaration: Assignable<
  typeof Implementation.createMockGateway,
  typeof Declared.createMockGateway
> = true;
const declaredOptionsFitImplementation: Assignable<
  Declared.MockGatewayOptions,
  Implementation.MockGatewayOptions
> = true;
const declaredBuyerFitsImplementation: Assignable<Implementation.MockBuyer, Declared.MockBuyer> = true;
// Both ways: a method the implementation has and the declaration lacks is one a shop cannot call.
const implementationBuyerFitsDeclared: Assignable<Declared.MockBuyer, Implementation.MockBuyer> = true;

describe('published types of the testing entry', () => {
  it('match the implementation (checked by the compiler)', () => {
    expect([
      implementationFitsDeclaration,
      declaredOptionsFitImplementation,
      declaredBuyerFitsImplementation,
      implementationBuyerFitsDeclared,
    ]).toEqual([true, true, true, true]);
  });
});
