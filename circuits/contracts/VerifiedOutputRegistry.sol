// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// The per-model verifier that ezkl generates (zkml.verifier_contract).
interface IHalo2Verifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// An application contract that sits next to a zkml verifier: it accepts a proof and its public
/// instances, has the verifier check them, and records the model's verified output. Optionally it
/// only accepts outputs at or above a threshold (e.g. "this applicant's private score passes").
/// Anything else reverts: an invalid proof, a non-canonical (aliased) field element, a low output.
contract VerifiedOutputRegistry {
    /// BN254 scalar field modulus: public instances are field elements below it.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    IHalo2Verifier public immutable verifier;
    /// Which public instance is the output to record (after any public inputs).
    uint256 public immutable outputIndex;
    /// Threshold in the circuit's fixed-point scale (output * 2^scale); used when checkThreshold is set.
    int256 public immutable threshold;
    bool public immutable checkThreshold;
    /// An identifier of the model the verifier belongs to (e.g. the sha256 of its bundle or ONNX).
    bytes32 public immutable modelId;

    mapping(bytes32 => int256) public outputOf;  // keccak256(instances) => output
    mapping(bytes32 => bool) public recorded;
    uint256 public count;

    event OutputVerified(address indexed submitter, bytes32 indexed instancesHash, bytes32 indexed modelId, int256 output);

    error InvalidProof();
    error NonCanonicalInstance(uint256 index);
    error MissingOutput(uint256 instances, uint256 outputIndex);
    error BelowThreshold(int256 output, int256 threshold);

    constructor(address verifier_, uint256 outputIndex_, int256 threshold_, bool checkThreshold_, bytes32 modelId_) {
        verifier = IHalo2Verifier(verifier_);
        outputIndex = outputIndex_;
        threshold = threshold_;
        checkThreshold = checkThreshold_;
        modelId = modelId_;
    }

    /// Verify `proof` for `instances` and record the output. Reverts unless everything checks out.
    function submit(bytes calldata proof, uint256[] calldata instances) external returns (int256 output) {
        if (instances.length <= outputIndex) revert MissingOutput(instances.length, outputIndex);
        for (uint256 i = 0; i < instances.length; i++) {
            if (instances[i] >= R) revert NonCanonicalInstance(i);
        }
        bool ok;
        try verifier.verifyProof(proof, instances) returns (bool result) {
            ok = result;
        } catch {
            ok = false;
        }
        if (!ok) revert InvalidProof();

        uint256 raw = instances[outputIndex];
        output = raw > R / 2 ? -int256(R - raw) : int256(raw);  // field element -> signed fixed point
        if (checkThreshold && output < threshold) revert BelowThreshold(output, threshold);

        bytes32 h = keccak256(abi.encodePacked(instances));
        outputOf[h] = output;
        if (!recorded[h]) {
            recorded[h] = true;
            count += 1;
        }
        emit OutputVerified(msg.sender, h, modelId, output);
    }
}
