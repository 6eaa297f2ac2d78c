// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// The per-model verifier that ezkl generates (zkml.verifier_contract).
interface IHalo2Verifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// A verifier bound to one published set of private weights. With committed weights (zkml's
/// params="committed"), every proof starts with the KZG commitment to the weights: G1 points, 64 bytes
/// each (x, y big-endian), at a fixed offset of the proof bytes. This contract accepts a proof only when
/// those bytes, taken from calldata, are the commitment registered here, then asks the verifier. It has
/// the verifier's own interface, so a VerifiedOutputRegistry can use it as its verifier.
contract CommittedWeightsVerifier {
    IHalo2Verifier public immutable verifier;
    /// keccak256 of the registered commitment (the model's public fingerprint)
    bytes32 public immutable weightsHash;
    /// where the commitment starts in the proof bytes, and how long it is
    uint256 public immutable offset;
    uint256 public immutable length;

    error ProofTooShort(uint256 length, uint256 needed);
    error WrongWeights(bytes32 found, bytes32 registered);

    constructor(address verifier_, bytes memory commitment, uint256 offset_) {
        require(commitment.length > 0 && commitment.length % 64 == 0, "commitment: 64 bytes per G1 point");
        verifier = IHalo2Verifier(verifier_);
        weightsHash = keccak256(commitment);
        offset = offset_;
        length = commitment.length;
    }

    /// Reverts unless the proof commits to the registered weights and the verifier accepts it.
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool) {
        if (proof.length < offset + length) revert ProofTooShort(proof.length, offset + length);
        bytes32 found = keccak256(proof[offset:offset + length]);
        if (found != weightsHash) revert WrongWeights(found, weightsHash);
        return verifier.verifyProof(proof, instances);
    }
}
