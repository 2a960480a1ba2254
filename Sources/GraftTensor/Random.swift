/// A small, seedable, serialisable generator (xoshiro256** seeded through SplitMix64).
/// The same seed gives the same numbers on every machine; its state is four UInt64 values, so a
/// checkpoint can store it and a resumed run continues the same sequence.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Equatable, Codable {
    public var state: [UInt64]

    public init(seed: UInt64) {
        var z = seed
        var s = [UInt64](repeating: 0, count: 4)
        for i in 0..<4 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            s[i] = x ^ (x >> 31)
        }
        state = s
    }

    public init(state: [UInt64]) {
        precondition(state.count == 4, "generator state needs 4 words")
        self.state = state
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits (exactly representable as Float).
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal (Box–Muller).
    public mutating func nextNormal() -> Double {
        var u = nextDouble()
        while u <= 0 { u = nextDouble() }
        let v = nextDouble()
        return (-2 * Double.log(u)).squareRoot() * Double.cos(2 * .pi * v)
    }

    /// A generator for a derived stream (per epoch, per layer), independent of this one's position.
    public func derived(_ salt: UInt64) -> RandomGenerator {
        RandomGenerator(seed: state[0] ^ (salt &* 0x9E37_79B9_7F4A_7C15) ^ state[3])
    }
}

extension Double {
    @inline(__always) static func log(_ x: Double) -> Double { _log(x) }
    @inline(__always) static func cos(_ x: Double) -> Double { _cos(x) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) private func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif

extension Tensor {
    /// Uniform values in [low, high).
    public static func uniform(_ shape: [Int], low: Float, high: Float, using rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        let p = t.mutablePointer()
        for i in 0..<t.count { p[i] = low + (high - low) * rng.nextFloat() }
        return t
    }

    /// Normal values with the given standard deviation.
    public static func normal(_ shape: [Int], std: Float, using rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        let p = t.mutablePointer()
        for i in 0..<t.count { p[i] = Float(rng.nextNormal()) * std }
        return t
    }
}
