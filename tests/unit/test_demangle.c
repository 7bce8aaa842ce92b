/* tests/unit/test_demangle.c — symbols_demangle (formats/symbols.c): C++, Rust (legacy and v0)
 * and D names as gdb prints them, plain names left alone.
 *
 * The expected strings are not libiberty's word about itself: the Rust ones are cases of
 * rustc-demangle's own tests (the Rust project's demangler; its "{:#}" form, without the hash),
 * the D one is a case of the D language's mangling documentation as GNU's D tests spell it, the
 * C++ ones are what __cxa_demangle (the C++ runtime, which corefs used before) gives for them.  The
 * integration test tests/test_real_rust.py compares whole backtraces of real Rust programs with
 * gdb's. */
#include <stdlib.h>

#include "unit.h"
#include "../../formats/symbols.h"

static void check(const char *mangled, const char *want)
{
	char *got = symbols_demangle(mangled);

	if (want)
		unit_report(got && !strcmp(got, want), __FILE__, __LINE__, "%s: \"%s\" != \"%s\"",
			    mangled, got ? got : "(null)", want);
	else
		unit_report(!got, __FILE__, __LINE__, "%s: demangled to \"%s\"", mangled,
			    got ? got : "");
	free(got);
}

static void test_rust_v0(void)
{
	check("_RNvC6_123foo3bar", "123foo::bar");
	check("_RNCNCNgCs6DXkGYLi8lr_2cc5spawn00B5_", "cc::spawn::{closure#0}::{closure#0}");
	check("_RINbNbCskIICzLVDPPb_5alloc5alloc8box_freeDINbNiB4_5boxed5FnBoxuEp6OutputuEL_"
	      "ECs1iopQbuBiw2_3std",
	      "alloc::alloc::box_free::<dyn alloc::boxed::FnBox<(), Output = ()>>");
	check("_RNqCs4fqI2P2rA04_11utf8_identsu30____7hkackfecea1cbdathfdh9hlq6y",
	      "utf8_idents::\u10e1\u10d0\u10ed\u10db\u10d4\u10da\u10d0\u10d3_"
	      "\u10d2\u10d4\u10db\u10e0\u10d8\u10d4\u10da\u10d8_"
	      "\u10e1\u10d0\u10d3\u10d8\u10da\u10d8");
}

static void test_rust_legacy(void)
{
	/* The "::h<hash>" suffix is dropped, as gdb and `c++filt` print it; "$..$" escapes and ".."
	 * are decoded. */
	check("_ZN3foo17h05af221e174051e9E", "foo");
	check("_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$"
	      "closure$u7d$$u7d$$GT$17h2b8e5ccf6d3a3d2aE",
	      "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>");
	check("_ZN71_$LT$Test$u20$$u2b$$u20$$u27$static$u20$as$u20$foo..Bar$LT$Test$GT$$GT$"
	      "3bar17h05af221e174051e9E",
	      "<Test + 'static as foo::Bar<Test>>::bar");
	check("_ZN35Bar$LT$$u5b$u32$u3b$$u20$4$u5d$$GT$17h05af221e174051e9E", "Bar<[u32; 4]>");
}

static void test_cxx(void)
{
	check("_Z3fooi", "foo(int)");
	check("_ZNSt6vectorIiSaIiEE9push_backERKi",
	      "std::vector<int, std::allocator<int> >::push_back(int const&)");
	check("_ZN9__gnu_cxx13new_allocatorIcE8allocateEmPKv",
	      "__gnu_cxx::new_allocator<char>::allocate(unsigned long, void const*)");
	check("_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()() const");
	check("_ZSt4endlIcSt11char_traitsIcEERSt13basic_ostreamIT_T0_ES6_",
	      "std::basic_ostream<char, std::char_traits<char> >& "
	      "std::endl<char, std::char_traits<char> >(std::basic_ostream<char, "
	      "std::char_traits<char> >&)");
}

static void test_d(void)
{
	check("_D8demangle4testFaZv", "demangle.test(char)");
	check("_Dmain", "D main");
}

static void test_plain_names(void)
{
	check("main", NULL);
	check("_start", NULL);
	check("__libc_start_main", NULL);
	check("_Dummy", NULL);
	check("_R", NULL);
	check("_ZN3foo", NULL);
	check("", NULL);
}

int main(void)
{
	RUN(test_rust_v0);
	RUN(test_rust_legacy);
	RUN(test_cxx);
	RUN(test_d);
	RUN(test_plain_names);
	return unit_summary("test_demangle");
}
