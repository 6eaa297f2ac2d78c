// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// The per-segment verifier that ezkl generates (zkml.verifier_contract).
interface IHalo2Verifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// One inference of a model proven in segments (zkml's split proving), verified in one call: every
/// segment by its own verifier, and every link: the KZG commitment to segment i's output, taken from
/// its proof bytes in calldata, must equal the commitment to segment i+1's input, taken from its proof.
/// The same checks as zkml.verify off chain; nothing prover-written is read but proofs and instances.
contract SplitVerifier {
    address[] public verifiers;
    /// for link i (segments i and i+1): where the output commitment starts in proof i,
    /// where the input commitment starts in proof i+1, and their length (64 bytes per G1 point)
    uint256[] public outOffsets;
    uint256[] public inOffsets;
    uint256[] public lengths;

    error WrongSegmentCount(uint256 proofs, uint256 instances, uint256 segments);
    error ProofTooShort(uint256 segment);
    error LinkMismatch(uint256 link);
    error SegmentRejected(uint256 segment);

    constructor(address[] memory verifiers_, uint256[] memory outOffsets_, uint256[] memory inOffsets_, uint256[] memory lengths_) {
        require(verifiers_.length >= 2, "a split model has at least two segments");
        require(outOffsets_.length == verifiers_.length - 1 && inOffsets_.length == outOffsets_.length
                && lengths_.length == outOffsets_.length, "one link between each two segments");
        verifiers = verifiers_;
        outOffsets = outOffsets_;
        inOffsets = inOffsets_;
        lengths = lengths_;
    }

    function verifyProof(bytes[] calldata proofs, uint256[][] calldata instances) external returns (bool) {
        uint256 n = verifiers.length;
        if (proofs.length != n || instances.length != n) revert WrongSegmentCount(proofs.length, instances.length, n);
        for (uint256 i = 0; i + 1 < n; i++) {
            uint256 len = lengths[i];
            if (proofs[i].length < outOffsets[i] + len) revert ProofTooShort(i);
            if (proofs[i + 1].length < inOffsets[i] + len) revert ProofTooShort(i + 1);
            bytes32 out = keccak256(proofs[i][outOffsets[i]:outOffsets[i] + len]);
            bytes32 next = keccak256(proofs[i + 1][inOffsets[i]:inOffsets[i] + len]);
            if (out != next) revert LinkMismatch(i);
        }
        for (uint256 i = 0; i < n; i++) {
            bool ok;
            try IHalo2Verifier(verifiers[i]).verifyProof(proofs[i], instances[i]) returns (bool r) {
                ok = r;
            } catch {
                ok = false;
            }
            if (!ok) revert SegmentRejected(i);
        }
        return true;
    }
}
